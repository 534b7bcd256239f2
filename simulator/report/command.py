"""`tortoise plot` and `tortoise report`: pick the picture the folder supports, write it, say where."""

from pathlib import Path

from simulator.errors import TortoiseError
from simulator.report.draw import default_name, draw
from simulator.report.folders import load_folder
from simulator.results.files import check_file, reason


def plot_command(args) -> int:
    from simulator.report.style import check_suffix, save
    from simulator.report.sweep_plots import Request

    if args.out:
        check_suffix(Path(args.out))
        check_file(Path(args.out), "--out")  # before drawing: a bad place is said before any work
    folder = load_folder(args.folder)
    if folder.kind == "run" and any((args.x, args.y, args.z, args.hue, args.where)):
        raise TortoiseError(f"plot: {folder.path} is a run folder; --x/--y/--z/--hue/--where apply to sweep and "
                            "compare folders")
    request = Request(args.x, args.y, args.z, args.hue, tuple(args.where))
    kind, fig = draw(folder, args.kind, request)
    out = Path(args.out) if args.out else folder.path / "plots" / default_name(kind, request)
    try:
        print(f"wrote {save(fig, out)}")
    except OSError as exc:  # e.g. the disk filled while the picture was written
        raise TortoiseError(f"--out {out}: cannot write there ({reason(exc)})") from None
    return 0


def report_command(args) -> int:
    from simulator.report.document import build_report, write_report

    out = Path(args.out)
    if out.suffix.lower() not in (".pdf", ".html"):
        raise TortoiseError(f"report --out {out}: unknown format {out.suffix or '(none)'!r}; use .pdf or .html")
    check_file(out, "report --out")
    folders = [load_folder(path) for path in args.folders]
    print(f"wrote {write_report(build_report(folders, args.title), out)}")
    return 0
