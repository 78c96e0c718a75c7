"""Build the shipper's deployable zip, deterministically, and upload it with the templates.

The zip holds the ``shipper_lambda/`` package at its root (the handler is
``shipper_lambda.handler.lambda_handler``) plus, unless told otherwise, the speed-up wheels (orjson, msgspec, pybase64, isal)
for the Lambda runtime's Python version and architecture, unpacked. Which runtime and
architecture: :func:`stack_target`, the stack's ``FunctionRuntime``/``FunctionArchitecture``
(``stack.parameters`` or the template's defaults), because wheels for another Python or CPU do
not import there (the shipper then logs a WARNING and runs stdlib-only, slower). Same inputs give a
byte-identical zip: entries sorted, timestamps fixed at 1980-01-01, permissions fixed, no
``__pycache__``. The upload key contains the SHA-256, so a new build is a new key and a stack
update that points at it replaces the code; an unchanged build changes nothing.

>>> artifact = build_artifact("dist")  # doctest: +SKIP
>>> uploaded = upload_artifact(artifact, fleet=fleet)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xaccount_ops.errors import XaccountOpsError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIR = REPO / "shipper_lambda"
CFN_DIR = REPO / "cfn"
TEMPLATES = ("main.yaml", "destination.yaml", "sender.yaml")
PACKAGE_NAME = "shipper_lambda"

SPEEDUP_PACKAGES = ("orjson", "msgspec", "pybase64", "isal")  # shipper_lambda/codec.py
# Runtimes the shipper supports; python3.14 only where the pinned botocore knows it (see
# supported_runtimes), so the template never offers a value Lambda's API would refuse here.
CANDIDATE_RUNTIMES = {"python3.14": "3.14", "python3.13": "3.13", "python3.12": "3.12"}
RUNTIMES = {"python3.13": "3.13", "python3.12": "3.12"}  # always known; see supported_runtimes
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
DEFAULT_RUNTIME, DEFAULT_ARCH = "python3.13", "x86_64"
CACHE_ENV = "XACCOUNT_OPS_CACHE"
PIP_TIMEOUT_S = 300

# Fixed zip metadata: what makes two builds byte-identical.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
COMPRESS_LEVEL = 9


class ArtifactError(XaccountOpsError):
    """The artifact could not be built or uploaded."""


@dataclass(frozen=True)
class Artifact:
    """A built shipper zip."""

    path: Path
    sha256: str
    size: int
    runtime: str = "python3.13"
    arch: str = "x86_64"
    speedups: tuple[str, ...] = ()
    files: int = 0

    @property
    def stdlib_only(self) -> bool:
        return not self.speedups


@dataclass(frozen=True)
class UploadedArtifact:
    """Where the zip and the templates live in S3 (landing account, landing region)."""

    bucket: str
    key: str
    region: str
    sha256: str
    template_keys: dict[str, str] = field(default_factory=dict)
    uploaded: bool = True  # False when the same key was already there

    def template_url(self, name: str, endpoint: str | None = None) -> str:
        base = (
            endpoint.rstrip("/") + f"/{self.bucket}"
            if endpoint
            else (f"https://{self.bucket}.s3.{self.region}.amazonaws.com")
        )
        return f"{base}/{self.template_keys[name]}"


@functools.cache
def supported_runtimes() -> dict[str, str]:
    """``{runtime: python version}``: the candidates botocore's Lambda model lists as Runtime."""
    try:
        from xaccount_ops import aws

        model = aws.botocore_session().get_service_model("lambda")
        known = set(model.shape_for("Runtime").enum)
    except Exception:  # no botocore model: the runtimes every supported botocore knows
        return dict(RUNTIMES)
    return {name: version for name, version in CANDIDATE_RUNTIMES.items() if name in known}


def template_default(parameter: str, template: str = "main.yaml") -> str | None:
    """A parameter's ``Default`` in one of our templates (two-space indented, as they are)."""
    text = (CFN_DIR / template).read_text()
    match = re.search(rf"^  {re.escape(parameter)}:\s*\n((?:    .*\n)+)", text, flags=re.MULTILINE)
    if not match:
        return None
    default = re.search(r"^    Default:\s*(.*?)\s*$", match.group(1), flags=re.MULTILINE)
    return default.group(1).strip("\"'") if default else None


def stack_target(parameters: Any = None) -> tuple[str, str]:
    """(runtime, arch) the function runs with: ``FunctionRuntime``/``FunctionArchitecture`` from
    ``parameters`` (the config's ``stack.parameters``), else the template's defaults."""
    parameters = parameters or {}
    runtime = parameters.get("FunctionRuntime") or template_default("FunctionRuntime")
    arch = parameters.get("FunctionArchitecture") or template_default("FunctionArchitecture")
    return str(runtime or DEFAULT_RUNTIME), str(arch or DEFAULT_ARCH)


def check_matches(artifact: Artifact, runtime: str, arch: str) -> None:
    """Refuse to deploy an artifact built for another runtime or architecture than the stack's."""
    if (artifact.runtime, artifact.arch) != (runtime, arch) and not artifact.stdlib_only:
        raise ArtifactError(
            f"the artifact {artifact.path.name} is built for {artifact.runtime}/{artifact.arch} "
            f"but the stack runs {runtime}/{arch} (stack.parameters FunctionRuntime/"
            f"FunctionArchitecture); rebuild it with runtime={runtime!r}, arch={arch!r}"
        )


def default_cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or "~/.cache", "xaccount-ops"
    )
    return Path(root).expanduser() / "wheels"


def build_artifact(
    out_dir: str | os.PathLike[str],
    *,
    runtime: str = DEFAULT_RUNTIME,
    arch: str = DEFAULT_ARCH,
    include_speedups: bool = True,
    source_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Artifact:
    """Build the shipper zip into ``out_dir`` and return its path, SHA-256 and size.

    With ``include_speedups`` the speed-up wheels for ``runtime``/``arch`` are downloaded
    once into ``cache_dir`` (default ``~/.cache/xaccount-ops/wheels``) and unpacked into the zip;
    when they cannot be fetched this raises :class:`ArtifactError`. ``include_speedups=False``
    builds a stdlib-only zip (the shipper works without them, slower) and logs that it did.
    """
    runtimes = supported_runtimes()
    if runtime not in runtimes:
        raise ArtifactError(
            f"runtime {runtime!r} is not supported; use one of {', '.join(runtimes)}"
        )
    if arch not in PLATFORMS:
        raise ArtifactError(f"arch {arch!r} is not supported; use one of {', '.join(PLATFORMS)}")
    source = Path(source_dir or SOURCE_DIR)
    entries = _source_entries(source)
    if not any(name.endswith("/handler.py") for name in entries):
        log.warning("%s has no handler.py: the function's handler will not import", source)
    speedups: tuple[str, ...] = ()
    if include_speedups:
        cache = Path(cache_dir) if cache_dir else default_cache_dir()
        for wheel in _wheels(runtime, arch, cache):
            check_wheel(wheel.name, runtime, arch)
            entries.update(_wheel_entries(wheel))
        speedups = SPEEDUP_PACKAGES
    else:
        log.warning(
            "building a stdlib-only artifact (no %s): the shipper works, with slower JSON and gzip",
            " or ".join(SPEEDUP_PACKAGES),
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = _zip_bytes(entries)
    digest = hashlib.sha256(data).hexdigest()
    flavour = "" if speedups else "-stdlib"
    path = out / f"shipper-{runtime}-{arch}{flavour}-{digest[:12]}.zip"
    tmp = path.with_suffix(".zip.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    log.info("built %s (%d files, %d bytes, sha256 %s)", path, len(entries), len(data), digest)
    return Artifact(
        path=path,
        sha256=digest,
        size=len(data),
        runtime=runtime,
        arch=arch,
        speedups=speedups,
        files=len(entries),
    )


def _source_entries(source: Path) -> dict[str, bytes]:
    if not source.is_dir():
        raise ArtifactError(f"no shipper source folder at {source}")
    entries: dict[str, bytes] = {}
    for path in sorted(source.rglob("*.py")):
        relative = path.relative_to(source)
        if "__pycache__" in relative.parts:
            continue
        entries[f"{PACKAGE_NAME}/{relative.as_posix()}"] = path.read_bytes()
    if not entries:
        raise ArtifactError(f"{source} holds no .py files: nothing to package")
    return entries


def check_wheel(filename: str, runtime: str, arch: str) -> None:
    """Refuse a wheel whose tags (``name-ver-cp313-cp313-manylinux..._x86_64.whl``) do not fit
    the runtime and architecture: bundled, it would not import and the shipper would run slower."""
    parts = filename[: -len(".whl")].split("-")
    if len(parts) < 5:
        raise ArtifactError(
            f"{filename} is not a wheel file name (name-version-python-abi-platform)"
        )
    python, abi, platform = parts[-3], parts[-2], parts[-1]
    want = "cp" + supported_runtimes()[runtime].replace(".", "")
    pythons = python.split(".")
    fits_python = want in pythons or (
        abi == "abi3"
        and any(p.startswith("cp3") and int(p[3:] or 0) <= int(want[3:]) for p in pythons)
    )
    machine = {"x86_64": "x86_64", "arm64": "aarch64"}[arch]
    if not fits_python or not any(tag.endswith(machine) for tag in platform.split(".")):
        raise ArtifactError(
            f"wheel {filename} does not fit {runtime}/{arch} (needs {want}, {machine}); remove "
            "it from the wheel cache so the right one is downloaded"
        )


def _wheel_entries(wheel: Path) -> dict[str, bytes]:
    entries: dict[str, bytes] = {}
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir() or "__pycache__" in info.filename.split("/"):
                continue
            entries[info.filename] = archive.read(info)
    return entries


def _zip_bytes(entries: dict[str, bytes]) -> bytes:
    with tempfile.SpooledTemporaryFile(max_size=64 << 20) as buffer:
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # unix, so the permission bits below are honoured
                info.external_attr = (0o100000 | FILE_MODE) << 16
                archive.writestr(info, entries[name], compresslevel=COMPRESS_LEVEL)
        buffer.seek(0)
        return buffer.read()


def _wheels(runtime: str, arch: str, cache: Path) -> list[Path]:
    """The speed-up wheels for the runtime, from the cache, downloading what is missing."""
    python_version = supported_runtimes()[runtime]
    folder = cache / f"cp{python_version.replace('.', '')}-{PLATFORMS[arch]}"
    found = _cached(folder)
    missing = [name for name in SPEEDUP_PACKAGES if name not in found]
    if missing:
        folder.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            PLATFORMS[arch],
            "--python-version",
            python_version,
            "--implementation",
            "cp",
            "--dest",
            str(folder),
            *missing,
        ]
        log.info("downloading %s wheels for %s/%s", ", ".join(missing), runtime, arch)
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as err:
            raise _download_error(missing, runtime, arch, "pip timed out") from err
        found = _cached(folder)
        still = [name for name in SPEEDUP_PACKAGES if name not in found]
        if done.returncode != 0 or still:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise _download_error(still or missing, runtime, arch, detail[-1] if detail else "")
    return [found[name] for name in SPEEDUP_PACKAGES]


def _cached(folder: Path) -> dict[str, Path]:
    """Newest cached wheel per package (by file name: versions sort within one package)."""
    found: dict[str, Path] = {}
    if folder.is_dir():
        for wheel in sorted(folder.glob("*.whl")):
            name = wheel.name.split("-", 1)[0].lower()
            if name in SPEEDUP_PACKAGES:
                found[name] = wheel
    return found


def _download_error(missing: list[str], runtime: str, arch: str, detail: str) -> ArtifactError:
    return ArtifactError(
        f"could not fetch the {', '.join(missing)} wheels for {runtime}/{arch}"
        + (f" (pip: {detail})" if detail else "")
        + "; connect to PyPI once (wheels are cached for later builds) or build a stdlib-only "
        "zip with include_speedups=False (CLI: --no-speedups)"
    )


# -- upload -----------------------------------------------------------------------------------


def default_bucket(account_id: str, region: str) -> str:
    return f"xaccount-ops-artifacts-{account_id}-{region}"


def upload_artifact(
    artifact: Artifact,
    *,
    bucket: str | None = None,
    prefix: str = "xaccount-ops",
    fleet: Any,
) -> UploadedArtifact:
    """Upload the zip and the templates to a private, versioned, encrypted bucket.

    The bucket (``stack.artifact_bucket`` or ``xaccount-ops-artifacts-<account>-<region>``) is in
    the landing account and region (Lambda reads code from its own region), created if needed.
    Keys contain the SHA-256 of their content, so uploads are immutable and repeatable.
    """
    region = fleet.landing_region
    s3 = fleet.landing_client("s3", region)
    name = (
        bucket
        or fleet.config.stack.artifact_bucket
        or default_bucket(fleet.landing_account, region)
    )
    ensure_bucket(s3, name, region)
    key = f"{prefix}/shipper/{artifact.sha256}/{artifact.path.name}"
    uploaded = _put_once(s3, name, key, artifact.path.read_bytes(), artifact.sha256)
    template_keys = {}
    for template in TEMPLATES:
        body = (CFN_DIR / template).read_bytes()
        digest = hashlib.sha256(body).hexdigest()
        template_keys[template] = f"{prefix}/templates/{digest}/{template}"
        _put_once(s3, name, template_keys[template], body, digest)
    return UploadedArtifact(
        bucket=name,
        key=key,
        region=region,
        sha256=artifact.sha256,
        template_keys=template_keys,
        uploaded=uploaded,
    )


def ensure_bucket(s3: Any, name: str, region: str) -> None:
    """Create the bucket if missing; (re)apply public access block, versioning and encryption."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=name)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise ArtifactError(
                f"artifact bucket {name} exists but is not usable ({code}); it may belong to "
                "another account: set stack.artifact_bucket to a bucket of your own",
                region=region,
                resource=name,
            ) from err
        kwargs: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        log.info("creating artifact bucket %s in %s", name, region)
        s3.create_bucket(**kwargs)
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


def _put_once(s3: Any, bucket: str, key: str, body: bytes, sha256: str) -> bool:
    """Upload unless the key is already there (keys are content-addressed). True if uploaded."""
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=key)
        return False
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ServerSideEncryption="AES256",
        Metadata={"sha256": sha256},
    )
    return True
