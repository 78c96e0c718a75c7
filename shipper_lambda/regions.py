"""AWS region names, for reading a region off the end of a subscription filter's name.

The shipper imports no boto3/botocore (the artifact is stdlib-first), so the names live here;
``tests/shipper/test_regions.py`` compares this table with botocore's endpoint data, so a region
AWS adds fails the suite until it is listed here.
"""

from __future__ import annotations

AWS_REGIONS = frozenset(
    {
        # aws
        "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2",
        "ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2",
        "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
        "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1",
        "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1",
        "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1",
        "us-west-2",
        # aws-cn
        "cn-north-1", "cn-northwest-1",
        # aws-us-gov
        "us-gov-east-1", "us-gov-west-1",
        # aws-iso, aws-iso-b, aws-iso-e, aws-iso-f
        "us-iso-east-1", "us-iso-west-1", "us-isob-east-1", "us-isob-west-1", "eu-isoe-west-1",
        "us-isof-east-1", "us-isof-south-1",
        # aws-eusc (European Sovereign Cloud)
        "eusc-de-east-1",
    }
)  # fmt: skip
# Suffix lengths to try, longest first: "eusc-de-east-1" must win over a shorter name it ends in.
_LENGTHS = sorted({len(name) for name in AWS_REGIONS}, reverse=True)


def region_suffix(name: str) -> str | None:
    """The AWS region ``name`` ends with, as a whole ``-``-separated suffix (or all of it):
    ``logzio-xacct-eusc-de-east-1`` → ``eusc-de-east-1``; ``my-sub-01`` → None."""
    size = len(name)
    for length in _LENGTHS:
        if length > size:
            continue
        tail = name[size - length :]
        if tail in AWS_REGIONS and (length == size or name[size - length - 1] == "-"):
            return tail
    return None
