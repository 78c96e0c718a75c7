import sys

from xaccount_ops.cli import main

sys.exit(main())
