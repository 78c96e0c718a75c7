"""``xaccount-ops package``: build the shipper zip (and upload it with the templates)."""

from __future__ import annotations

import argparse
import sys

from xaccount_ops.cli.context import Context


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "package",
        help="build the deterministic shipper zip; upload it and the templates to S3",
        description="Prints the zip's path and SHA-256 (and, when uploaded, its S3 location).",
    )
    parser.add_argument("--no-upload", action="store_true", help="build only (no AWS access)")
    parser.add_argument(
        "--no-speedups", action="store_true", help="stdlib-only zip (no speed-up wheels)"
    )
    parser.add_argument("--out", default="dist", metavar="DIR", help="output folder (default dist)")
    parser.add_argument(
        "--runtime",
        help="Lambda runtime to build for (default: the stack's FunctionRuntime from "
        "stack.parameters, else the template's default)",
    )
    parser.add_argument(
        "--arch",
        choices=("x86_64", "arm64"),
        help="architecture (default: the stack's FunctionArchitecture, as --runtime)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops.errors import ConfigError
    from xaccount_ops.landing.package import build_artifact, stack_target, upload_artifact

    try:
        parameters = ctx.config.stack.parameters
    except ConfigError:
        if not args.no_upload:
            raise
        parameters = {}  # build-only without a config file: the template's defaults
    runtime, arch = stack_target(parameters)
    artifact = build_artifact(
        args.out,
        runtime=args.runtime or runtime,
        arch=args.arch or arch,
        include_speedups=not args.no_speedups,
    )
    print(f"{artifact.path}\t{artifact.sha256}")
    if artifact.stdlib_only:
        print("stdlib-only artifact: no speed-up wheels", file=sys.stderr)
    if not args.no_upload:
        uploaded = upload_artifact(artifact, fleet=ctx.fleet())
        state = "uploaded" if uploaded.uploaded else "already there"
        print(f"s3://{uploaded.bucket}/{uploaded.key}\t{state}")
    return 0
