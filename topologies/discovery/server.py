"""One server's insides: an NCCL topology dump or ``nvidia-smi topo -m``.

NCCL writes the topology it detected to ``NCCL_TOPO_DUMP_FILE`` (and reads one from
``NCCL_TOPO_FILE``): ``<system version="1">`` holding ``<cpu>`` > ``<pci>`` trees whose leaves
are ``<gpu dev= sm= ...>`` (with ``<nvlink target= count= tclass=/>`` children, one per NVLink
peer: another GPU or an NVSwitch, ``tclass 0x068000``) and ``<nic><net name= speed=/></nic>``
(NVIDIA/nccl ``src/graph/xml.cc``, ``src/graph/topo.cc``). A GPU's NVLink count is the sum of its
``count`` attributes (an H100 SXM: 18).

``nvidia-smi topo -m`` prints a matrix: rows and columns ``GPU0..`` and ``NIC0..`` (or
``mlx5_0..``), cells ``X``, ``NV18`` (18 NVLink links), ``PIX``, ``PXB``, ``PHB``, ``NODE``,
``SYS`` (NVIDIA System Management Interface documentation). A GPU's NVLink count is the
largest ``NV#`` of its row (behind NVSwitches every GPU pair shows the GPU's full count).

>>> smi = '''
... \tGPU0\tGPU1\tNIC0\tCPU Affinity
... GPU0\t X \tNV18\tPIX\t0-55
... GPU1\tNV18\t X \tSYS\t0-55
... NIC0\tPIX\tSYS\t X
... '''
>>> s = parse_server(smi, "nvidia-smi")
>>> s.num_gpus, s.nvlink_links_per_gpu, s.num_nics
(2, 18, 1)
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from topologies.discovery.build import ServerDescription
from topologies.discovery.model import DiscoveryError

__all__ = ["parse_server", "looks_like_nccl_xml", "looks_like_nvidia_smi", "SM_TO_GPU"]

#: NCCL's ``sm`` attribute (compute capability x 10) -> catalog GPU key.
SM_TO_GPU = {70: "v100", 75: "t4", 80: "a100", 89: "l40s", 90: "h100", 100: "b200",
             103: "b300"}
#: The catalog GPUs of each compute capability (CUDA GPUs list,
#: https://developer.nvidia.com/cuda-gpus, read 2026-12): a ``--gpu`` among them is kept, as the
#: ``sm`` alone cannot tell an H200 from an H100.
SM_FAMILY = {70: ("v100", "v100-16gb", "v100-32gb"), 75: ("t4",),
             80: ("a100", "a100-40gb", "a100-80gb", "a100-pcie"), 89: ("l40s",),
             90: ("h100", "h100-pcie", "h200"), 100: ("b200", "gb200"), 103: ("b300", "gb300")}
_SMI_ROW = re.compile(r"^(GPU\d+|NIC\d+|mlx\d+_\d+)\s")
_NV = re.compile(r"^NV(\d+)$")


def looks_like_nccl_xml(text: str) -> bool:
    """Whether ``text`` is an NCCL topology XML (a ``<system`` root)."""
    return text.lstrip().startswith(("<system", "<?xml")) and "<system" in text[:4096]


def looks_like_nvidia_smi(text: str) -> bool:
    """Whether ``text`` is an ``nvidia-smi topo -m`` matrix (a header of ``GPU0 ...``)."""
    return any(
        line.split()[:1] == ["GPU0"] and line[:1] in ("\t", " ")
        for line in text.splitlines()[:10] if line.strip()
    )


def parse_server(text: str, format: str, *, source: str = "", gpu: str | None = None
                 ) -> ServerDescription:
    """A server description from an NCCL topology XML (``nccl-xml``) or ``nvidia-smi``.

    Parameters
    ----------
    text
        The dump.
    format
        ``nccl-xml``, ``nvidia-smi`` or ``auto``.
    source
        The file name, for messages.
    gpu
        Catalog GPU key the user named, or None (h100 where the dump does not tell:
        nvidia-smi never does). NCCL's ``sm`` tells the GPU's generation: a ``gpu`` of that
        generation (:data:`SM_FAMILY`) is kept, another is refused.

    Raises
    ------
    DiscoveryError
        If the format is unknown, the text holds no GPU, or ``gpu`` is of another generation
        than the dump's ``sm``.
    """
    if format == "auto":
        format = "nccl-xml" if looks_like_nccl_xml(text) else (
            "nvidia-smi" if looks_like_nvidia_smi(text) else "")
    if format == "nccl-xml":
        return _nccl_xml(text, source, gpu)
    if format == "nvidia-smi":
        return _nvidia_smi(text, source, gpu)
    raise DiscoveryError("a server description must be an NCCL topology XML (nccl-xml) or "
                         "'nvidia-smi topo -m' output (nvidia-smi)", source=source)


def _nccl_xml(text: str, source: str, gpu: str | None) -> ServerDescription:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise DiscoveryError(f"not XML: {err}", source=source,
                             line=getattr(err, "position", (None,))[0]) from err
    if root.tag != "system":
        raise DiscoveryError(f"NCCL topology XML has a <system> root, got <{root.tag}>",
                             source=source)
    gpus = root.findall(".//gpu")
    if not gpus:
        raise DiscoveryError("no <gpu> element in the NCCL topology XML", source=source)
    links = []
    for element in gpus:
        total = 0
        for nvlink in element.findall("nvlink"):
            try:
                total += int(nvlink.get("count", "0"))
            except ValueError as err:
                raise DiscoveryError(f"nvlink count {nvlink.get('count')!r} is not an integer",
                                     source=source) from err
        links.append(total)
    sm = gpus[0].get("sm", "")
    model = gpu or "h100"
    if sm.isdigit() and int(sm) in SM_TO_GPU:
        family = SM_FAMILY.get(int(sm), (SM_TO_GPU[int(sm)],))
        if gpu is None:
            model = SM_TO_GPU[int(sm)]
        elif gpu not in family:
            raise DiscoveryError(f"--gpu {gpu} is not a GPU of the dump's sm {sm} (compute "
                                 f"capability {int(sm) / 10:g}: {', '.join(family)}); give one "
                                 f"of those, or leave --gpu out", source=source)
    return ServerDescription(num_gpus=len(gpus), nvlink_links_per_gpu=min(links),
                             num_nics=len(root.findall(".//net")), gpu=model,
                             source=f"{source or 'NCCL topology'} (nccl-xml)")


def _nvidia_smi(text: str, source: str, gpu: str | None) -> ServerDescription:
    gpus: list[int] = []
    nics = 0
    for line in text.splitlines():
        match = _SMI_ROW.match(line)
        if not match:
            continue
        if match.group(1).startswith("GPU"):
            counts = [int(m.group(1)) for cell in line.split()[1:] if (m := _NV.match(cell))]
            gpus.append(max(counts, default=0))
        else:
            nics += 1
    if not gpus:
        raise DiscoveryError("no GPU row (GPU0 ...) in the nvidia-smi topo -m output",
                             source=source)
    return ServerDescription(num_gpus=len(gpus), nvlink_links_per_gpu=min(gpus), num_nics=nics,
                             gpu=gpu or "h100",
                             source=f"{source or 'nvidia-smi'} (nvidia-smi topo -m)")
