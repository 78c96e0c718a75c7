"""xaccount-ops: ship CloudWatch Logs from many AWS accounts and regions to Logz.io."""

__version__ = "0.1.0"
