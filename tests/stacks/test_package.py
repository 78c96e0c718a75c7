"""The shipper artifact: deterministic, laid out for the handler, and honest about speed-ups."""

from __future__ import annotations

import hashlib
import stat
import zipfile
from pathlib import Path

import pytest

from xaccount_ops.landing.package import (
    SPEEDUP_PACKAGES,
    ArtifactError,
    build_artifact,
    check_matches,
    check_wheel,
    stack_target,
    supported_runtimes,
    upload_artifact,
)


def make_source(root: Path) -> Path:
    source = root / "src"
    (source / "sub").mkdir(parents=True)
    (source / "__init__.py").write_text("")
    (source / "handler.py").write_text("def lambda_handler(event, context):\n    return {}\n")
    (source / "sub" / "util.py").write_text("X = 1\n")
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"junk")
    return source


def test_build_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    first = build_artifact(tmp_path / "a", include_speedups=False, source_dir=source)
    (source / "handler.py").touch()  # a newer mtime must not change the zip
    second = build_artifact(tmp_path / "b", include_speedups=False, source_dir=source)
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()
    assert hashlib.sha256(first.path.read_bytes()).hexdigest() == first.sha256
    assert first.size == first.path.stat().st_size
    assert first.stdlib_only and "stdlib" in first.path.name


def test_layout_timestamps_and_permissions(tmp_path: Path) -> None:
    artifact = build_artifact(tmp_path, include_speedups=False, source_dir=make_source(tmp_path))
    with zipfile.ZipFile(artifact.path) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert names == [
        "shipper_lambda/__init__.py",
        "shipper_lambda/handler.py",
        "shipper_lambda/sub/util.py",
    ]
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert stat.S_IMODE(info.external_attr >> 16) == 0o644


def test_a_source_change_changes_the_hash(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    first = build_artifact(tmp_path / "a", include_speedups=False, source_dir=source)
    (source / "handler.py").write_text("def lambda_handler(event, context):\n    return 1\n")
    second = build_artifact(tmp_path / "b", include_speedups=False, source_dir=source)
    assert first.sha256 != second.sha256


def test_speedups_come_from_the_cache_without_network(tmp_path: Path) -> None:
    """Wheels already in the cache are used as they are: no pip, no network."""
    cache = tmp_path / "cache"
    folder = cache / "cp313-manylinux2014_x86_64"
    folder.mkdir(parents=True)
    for package in SPEEDUP_PACKAGES:
        name = f"{package}-9.9.9-cp313-cp313-manylinux2014_x86_64.whl"
        with zipfile.ZipFile(folder / name, "w") as wheel:
            wheel.writestr(f"{package}/__init__.py", f"NAME = {package!r}\n")
            wheel.writestr(f"{package}/__pycache__/x.pyc", b"junk")
    artifact = build_artifact(tmp_path / "out", source_dir=make_source(tmp_path), cache_dir=cache)
    names = zipfile.ZipFile(artifact.path).namelist()
    assert all(f"{package}/__init__.py" in names for package in SPEEDUP_PACKAGES)
    assert not any("__pycache__" in n for n in names)
    assert artifact.speedups == ("orjson", "msgspec", "pybase64", "isal")
    again = build_artifact(
        tmp_path / "out2", source_dir=make_source(tmp_path / "x"), cache_dir=cache
    )
    assert again.sha256 == artifact.sha256


def test_missing_wheels_fail_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An index that does not exist stands in for "no network".
    monkeypatch.setenv("PIP_INDEX_URL", f"file://{tmp_path}/no-index")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(ArtifactError) as caught:
        build_artifact(tmp_path / "out", source_dir=make_source(tmp_path), cache_dir=tmp_path / "c")
    message = str(caught.value)
    assert "orjson" in message and "include_speedups=False" in message


def test_unsupported_runtime_is_named(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="python3.9"):
        build_artifact(tmp_path, runtime="python3.9", include_speedups=False)


def test_upload_is_private_versioned_encrypted_and_immutable(fleet, artifact) -> None:
    uploaded = upload_artifact(artifact, fleet=fleet)
    s3 = fleet.landing_client("s3")
    assert artifact.sha256 in uploaded.key
    assert s3.get_object(Bucket=uploaded.bucket, Key=uploaded.key)["Body"].read() == (
        artifact.path.read_bytes()
    )
    block = s3.get_public_access_block(Bucket=uploaded.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert s3.get_bucket_versioning(Bucket=uploaded.bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=uploaded.bucket)["ServerSideEncryptionConfiguration"]
    assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert set(uploaded.template_keys) == {"main.yaml", "destination.yaml", "sender.yaml"}
    assert upload_artifact(artifact, fleet=fleet).uploaded is False  # same key: not re-sent


def fake_wheels(cache: Path, python: str, platform: str) -> None:
    folder = cache / f"{python}-{platform}"
    folder.mkdir(parents=True)
    for package in SPEEDUP_PACKAGES:
        name = f"{package}-9.9.9-{python}-{python}-{platform}.whl"
        with zipfile.ZipFile(folder / name, "w") as wheel:
            wheel.writestr(f"{package}/__init__.py", f"NAME = {package!r}\n")


def test_artifact_is_built_for_the_stacks_runtime_and_architecture(tmp_path: Path) -> None:
    """stack.parameters FunctionRuntime/FunctionArchitecture pick the wheels; the template's
    defaults apply otherwise; python3.14 is offered because the pinned botocore lists it."""
    assert "python3.14" in supported_runtimes()
    assert stack_target({}) == ("python3.13", "x86_64")  # cfn/main.yaml defaults
    runtime, arch = stack_target({"FunctionRuntime": "python3.14", "FunctionArchitecture": "arm64"})
    cache = tmp_path / "cache"
    fake_wheels(cache, "cp314", "manylinux2014_aarch64")
    fake_wheels(cache, "cp313", "manylinux2014_x86_64")  # present, must not be picked
    artifact = build_artifact(
        tmp_path / "out",
        runtime=runtime,
        arch=arch,
        source_dir=make_source(tmp_path),
        cache_dir=cache,
    )
    assert (artifact.runtime, artifact.arch) == ("python3.14", "arm64")
    assert artifact.path.name.startswith("shipper-python3.14-arm64-")
    check_matches(artifact, runtime, arch)
    with pytest.raises(
        ArtifactError, match="built for python3.14/arm64 but the stack runs python3.13/x86_64"
    ):
        check_matches(artifact, "python3.13", "x86_64")


def test_a_wheel_for_another_runtime_in_the_cache_is_refused(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fake_wheels(cache, "cp312", "manylinux2014_x86_64")
    (cache / "cp312-manylinux2014_x86_64").rename(cache / "cp313-manylinux2014_x86_64")
    with pytest.raises(
        ArtifactError, match="does not fit python3.13/x86_64 \\(needs cp313, x86_64\\)"
    ):
        build_artifact(tmp_path / "out", source_dir=make_source(tmp_path), cache_dir=cache)
    check_wheel(
        "orjson-3.10.0-cp313-cp313-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "python3.13",
        "arm64",
    )
    check_wheel("isal-1.7.0-cp39-abi3-manylinux2014_x86_64.whl", "python3.14", "x86_64")
