"""``dp-pix pixelate``: privatize image and video files and folders into OUT."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import dp_pix
from dp_pix.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    CommandError,
    fraction,
    m_value,
    positive_float,
    positive_int,
    say,
    seed_int,
    whole_number,
)

# ---------------------------------------------------------------------------
# dp-pix pixelate


_PIXELATE_DESCRIPTION = """\
Privatize image and video files and folders with DP-Pix and write them under
OUT, together with a privacy record, OUT/dp-pix.json. Folders are read
recursively and mirrored under OUT; files keep their names (the suffix
follows --format; videos become .mp4, or .mkv with --lossless). Changing any
M pixels of an image changes the probability of any output by a factor of at
most exp(EPSILON); for a video, EPSILON is the budget of a window of frames
(--window).
"""

_PIXELATE_EPILOG = """\
inputs and outputs:
  A folder's contents go directly under OUT (photos/a/x.jpg -> OUT/a/x.png);
  a file goes to OUT/NAME. In folders, files with an image suffix (.png .jpg
  .jpeg .tif .tiff .webp .bmp .gif .pgm .ppm ...) are read; other files,
  hidden files and links to folders are ignored, counted and listed in the
  record. A file named on the command line is always tried. Refused before
  any work: two inputs that map to one output name, an image reached twice
  (two noisy copies spend epsilon twice), and an OUT that is an input, lies
  inside one or contains one.

conversions (as dp_pix.io.read_image):
  Grey stays grey, colour becomes RGB; 1-bit -> 0/255; 16-bit -> v >> 8;
  palette, CMYK -> RGB; alpha is dropped (not composited); the EXIF
  orientation is applied. Outputs carry no metadata (EXIF, GPS, ICC,
  comments). --format jpeg writes quality 95 without chroma subsampling;
  re-encoding costs no privacy. --format same keeps .png .jpg .jpeg .tif
  .tiff .webp .bmp .gif .pgm .ppm .pnm .tga .qoi and writes PNG otherwise.
  A file that cannot be read or written is reported on stderr and in the
  record, and the run goes on.

interrupted runs:
  Every file is written to a hidden temporary file and renamed into place,
  so an interrupted run leaves only whole files. Run the same command with
  --skip-existing to finish it; it refuses an OUT whose dp-pix.json has other
  parameters. Without --skip-existing or --overwrite a run refuses an OUT
  that already holds any of its output files.

regions (privatize only part of each image):
  --regions FILE and/or --detect faces switch to region mode: only the
  regions are privatized, with cells anchored at each region's top-left
  corner; every other pixel is written unchanged. Boxes are grown by --pad
  and clipped to the image; overlapping boxes are merged. -m region sets M to
  the pixel count of each image's largest region, so that whatever a region
  shows is covered. The guarantee then holds for changes inside the regions,
  given the regions: their positions and sizes are published as found on the
  raw image, and a face the detector misses has no protection. The record
  lists every file's boxes. --detect faces needs pip install 'dp-pix[faces]'.
  Not available with --ray.
  Videos too: each frame's regions are its boxes in the regions file (by
  frame number; a frame not listed has none) and what the detector finds in
  it, each detected box carried {carry} frames forward and back so that a face
  missed for a few frames stays covered. A frame without regions is written
  unchanged; H.264 re-encodes every pixel (lossy), --lossless keeps the
  pixels outside the regions bit for bit. The record lists each clip's
  regions frame by frame.

{schema}

videos (pip install 'dp-pix[video]'):
  .mp4 .mov .mkv .webm .avi (and .m4v .mpg .mts .wmv .flv .3gp .ogv ...) are
  privatized frame by frame under w-event privacy: EPSILON (or DELTA, RHO)
  is the budget of any window of --window seconds, split over its w frames
  (Laplace EPSILON/w, Gaussian rho/w per frame). Written as H.264 in .mp4, or
  FFV1 in .mkv with --lossless; size, frame count, timestamps and rotation are
  kept; audio, subtitles and all metadata are dropped (--keep-audio copies
  audio, NOT protected). They run after the images, one at a time, here also
  with --ray. See PRIVACY.md.

on a Ray cluster (pip install 'dp-pix[ray]'):
  --ray runs the same command on Ray Data: the same checks, outputs and
  record, and with --seed the same bytes (each file's noise is keyed by its
  output path). Every worker must see INPUT and OUT at the same paths.
  Without ADDRESS Ray picks: $RAY_ADDRESS, a cluster started on this
  machine, else a new local one.

exit status:
  0 every file written; 1 some file failed (listed on stderr and in the
  record); 2 bad arguments, or refused before any work.

examples:
  {prog} pixelate photos/ -o private/ --block 16 --epsilon 0.5 --m 16
  {prog} pixelate a.jpg b.png -o out/ -b 8 -e 1 -m 64 --format jpeg
  {prog} pixelate faces/ -o grids/ -b 16 -e 0.5 -m 16 --output grid --jobs 4
  {prog} pixelate scans/ -o out/ -b 16 -e 1 -m 360 --mechanism gaussian --delta 1e-6
  {prog} pixelate scans/ -o out/ -b 16 -m 360 --mechanism gaussian --rho 0.05
  {prog} pixelate photos/ -o private/ -b 16 -e 0.5 -m 16 --skip-existing
  {prog} pixelate /shared/photos -o /shared/private -b 16 -e 0.5 -m 16 --ray head:6379
  {prog} pixelate street/ -o public/ -b 8 -e 1 -m region --detect faces
  {prog} pixelate street/ -o public/ -b 8 -e 1 -m 256 --regions boxes.json --pad 0
  {prog} pixelate clip.mp4 -o out/ -b 16 -e 1 -m 16                 # the clip is one window
  {prog} pixelate dashcam/ -o out/ -b 32 -e 1 -m 16 --window 10 --fps 10
  {prog} pixelate clip.mov -o out/ -b 16 -e 1 -m 16 --lossless --keep-audio
  {prog} pixelate clip.mp4 -o out/ -b 8 -e 1 -m region --detect faces --window 1
"""


def block_size(text: str) -> int | tuple[int, int]:
    """``16`` or ``16x8`` (height x width)."""
    parts = text.lower().split("x")
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"not a block size B or BHxBW: {text!r}")
    sizes = [positive_int(p) for p in parts]
    return sizes[0] if len(sizes) == 1 else (sizes[0], sizes[1])


def probability(text: str) -> float:
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text!r}")
    return value


def window_seconds(text: str) -> float | None:
    """``all`` (None) or a number of seconds > 0."""
    return None if text.strip().lower() == "all" else positive_float(text)


def crf_value(text: str) -> int:
    value = whole_number(text, 0)
    if value > 51:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 51, got {text!r}")
    return value


def _add_video_arguments(p: argparse.ArgumentParser) -> None:
    from dp_pix import pipeline

    v = p.add_argument_group("videos")
    v.add_argument(
        "--window", type=window_seconds, default=None, metavar="SECONDS",
        help="the privacy budget covers any window of SECONDS (w frames); 'all': the whole "
        "clip is one window (default: all)",
    )
    v.add_argument(
        "--fps", type=positive_float, default=None, metavar="N",
        help="release at most N frames per second (fewer frames: a smaller w for the same "
        "window) (default: every frame)",
    )
    v.add_argument(
        "--lossless", action="store_true",
        help="write FFV1 in .mkv (bit-exact privatized pixels) instead of H.264 in .mp4",
    )
    v.add_argument(
        "--crf", type=crf_value, default=pipeline.VideoOptions.crf, metavar="Q",
        help=f"H.264 quality, 0 (best) to 51 (default: {pipeline.VideoOptions.crf})",
    )
    v.add_argument(
        "--keep-audio", action="store_true",
        help="copy the audio streams untouched; audio is NOT protected (default: dropped)",
    )


def add(subparsers: Any) -> None:
    """The ``pixelate`` subcommand's parser."""
    from dp_pix import pipeline

    p = subparsers.add_parser(
        "pixelate",
        help="privatize image and video files and folders into OUT, with a privacy record",
        description=_PIXELATE_DESCRIPTION,
        epilog=_PIXELATE_EPILOG.format(prog=PROG, schema=_regions_schema(), carry=_carry()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image and video files and folders")
    p.add_argument(
        "-o", "--out", required=True, metavar="OUT",
        help="folder to write to (created if missing); never an input or inside one",
    )
    p.add_argument(
        "-b", "--block", type=block_size, required=True, metavar="B",
        help="cell size in pixels: B for B x B cells, or BHxBW (e.g. 16x8)",
    )
    p.add_argument(
        "-e", "--epsilon", type=positive_float, default=None, metavar="E",
        help="privacy level; smaller means more noise and a stronger guarantee "
        "(required, unless --rho is given)",
    )
    p.add_argument(
        "-m", "--m", type=m_value, required=True, metavar="M",
        help="pixels protected: any change of up to M pixels is covered (the paper uses 16); "
        "'region' with --regions or --detect: the pixel count of each image's largest region",
    )
    p.add_argument(
        "--mechanism", choices=("laplace", "gaussian"), default="laplace",
        help="noise: 'laplace' (pure epsilon-DP) or 'gaussian' ((epsilon, delta)-DP, "
        "needs --delta) (default: laplace)",
    )
    p.add_argument(
        "--delta", type=probability, default=None, metavar="D",
        help="delta for --mechanism gaussian, e.g. 1e-6 (default: none)",
    )
    p.add_argument(
        "--rho", type=positive_float, default=None, metavar="R",
        help="zCDP budget for --mechanism gaussian, instead of -e/--delta (--delta may be "
        "added to also state the (epsilon, delta) reading) (default: none)",
    )
    p.add_argument(
        "--edges", choices=("partial", "pad", "crop"), default="partial",
        help="cells cut by the right and bottom edges: 'partial' (unbiased), 'pad' (the "
        "paper's formula) or 'crop' (dropped) (default: partial)",
    )
    p.add_argument(
        "--output", choices=("full", "grid"), default="full",
        help="'full': the image size; 'grid': one pixel per cell (default: full)",
    )
    p.add_argument(
        "--format", choices=pipeline.FORMATS, default="png",
        help="file format written: png (lossless), jpeg (.jpg), or same as the input "
        "(default: png)",
    )
    p.add_argument(
        "-j", "--jobs", type=positive_int, default=None, metavar="N",
        help="files processed at once (default: the number of CPUs, "
        f"{pipeline.default_jobs()} here); with --ray, Ray tasks at once (default: "
        "as many as the cluster runs)",
    )
    p.add_argument(
        "--ray", nargs="?", const="", default=None, metavar="ADDRESS",
        help="run on a Ray cluster at ADDRESS (default: Ray's choice, a new local "
        "instance when none runs); needs pip install 'dp-pix[ray]'",
    )
    p.add_argument(
        "--seed", type=seed_int, default=None, metavar="S",
        help="make the noise reproducible (the same bytes for any --jobs, with or without "
        "--ray); a seed is a "
        "secret key, never use one for a real release; not stored in the record "
        "(default: fresh randomness from the OS)",
    )
    p.add_argument(
        "--max-pixels", type=positive_int, default=None, metavar="N",
        help="images with more pixels fail (a guard against decompression bombs) "
        f"(default: Pillow's limit, {_pillow_limit():,})",
    )
    p.add_argument(
        "--regions", default=None, metavar="FILE",
        help="privatize only the boxes listed in this JSON file (see 'regions' below)",
    )
    p.add_argument(
        "--detect", choices=("faces",), default=None,
        help="privatize only the regions found by a detector: 'faces' (OpenCV Haar "
        "cascades; pip install 'dp-pix[faces]')",
    )
    p.add_argument(
        "--pad", type=fraction, default=None, metavar="FRACTION",
        help="grow every box by FRACTION of its width and height on each side, clipped to "
        "the image (default: 0.2; with --regions or --detect)",
    )
    existing = p.add_mutually_exclusive_group()
    existing.add_argument(
        "--skip-existing", action="store_true",
        help="keep outputs that exist already: resume an interrupted run",
    )
    existing.add_argument(
        "--overwrite", action="store_true", help="replace outputs that exist already",
    )
    _add_video_arguments(p)
    p.set_defaults(run=run)


def _pillow_limit() -> int:
    from PIL import Image

    return int(Image.MAX_IMAGE_PIXELS or 0)


def run(args: argparse.Namespace) -> int:
    import warnings

    from PIL import Image

    from dp_pix import pipeline

    # A large image fails with its name instead of a bare warning on stderr.
    if args.max_pixels is not None:
        Image.MAX_IMAGE_PIXELS = args.max_pixels
    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

    if args.mechanism == "laplace" and (args.delta is not None or args.rho is not None):
        raise CommandError(
            "--delta and --rho apply to --mechanism gaussian; the Laplace mechanism is pure "
            "epsilon-DP: drop them", EXIT_USAGE,
        )
    if args.rho is not None and args.epsilon is not None:
        raise CommandError("give either --rho, or -e/--epsilon with --delta, not both", EXIT_USAGE)
    if args.rho is None and args.epsilon is None:
        raise CommandError("-e/--epsilon is required, e.g. -e 0.5", EXIT_USAGE)
    if args.mechanism == "gaussian" and args.rho is None and args.delta is None:
        raise CommandError(
            "--mechanism gaussian needs --delta (e.g. --delta 1e-6), or --rho", EXIT_USAGE
        )
    params = dp_pix.Params(
        block=args.block, epsilon=args.epsilon, m=args.m, mechanism=args.mechanism,
        delta=args.delta, rho=args.rho, edges=args.edges, output=args.output,
    )  # checked once, before any file is touched: a bad value is a usage error
    video = pipeline.VideoOptions(
        window=args.window, fps=args.fps, lossless=args.lossless, keep_audio=args.keep_audio,
        crf=args.crf,
    )
    options = pipeline.Options(
        params, format=args.format, jobs=args.jobs, seed=args.seed, video=video,
        existing="skip" if args.skip_existing else "overwrite" if args.overwrite else "refuse",
        regions=_finder(args),
    )
    try:
        if args.ray is None:
            report = pipeline.pixelate_paths(args.inputs, args.out, options, stream=sys.stderr)
        else:
            try:
                from dp_pix import ray as dp_ray
            except ImportError as exc:
                raise CommandError(f"--ray: {exc}", EXIT_USAGE) from None
            report = dp_ray.pixelate_paths(
                args.inputs, args.out, options, address=args.ray or None, stream=sys.stderr
            )
    except pipeline.RefusedError as exc:
        raise CommandError(f"refused, nothing written: {exc}", EXIT_USAGE) from None
    except KeyboardInterrupt:
        say(
            f"{PROG}: interrupted; the files written so far are whole. Run the same command "
            "with --skip-existing to finish", file=sys.stderr,
        )
        raise

    counts = [f"{report.written} written"]
    if report.present:
        counts.append(f"{report.present} already present")
    counts.append(f"{len(report.failures)} failed")
    if report.remaining:
        counts.append(f"{report.remaining} not done")
    if report.ignored:
        counts.append(f"{len(report.ignored)} other files ignored")
    rate = report.written / report.seconds if report.seconds > 0 else 0.0
    say(f"{PROG} pixelate: {', '.join(counts)} in {report.seconds:.1f} s ({rate:.1f} files/s)")
    for channels, guarantee in report.guarantees.items():
        kind = "grey" if channels == 1 else f"{channels}-channel"
        say(f"  {kind} images: {guarantee}")
    if options.regions is not None and (report.regions or not report.videos):
        boxes = sum(len(r["boxes"]) for r in report.regions.values())
        files = len(report.regions)
        say(f"  regions: {boxes} box(es) in {files} file(s), listed in the record")
    _print_videos(report.videos)
    say(f"privacy record: {report.record}")
    if report.status == "out of space":
        say(
            f"{PROG}: stopped: the disk holding OUT is full. Free some space, then run the same "
            "command with --skip-existing to finish",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    if report.failures:
        say(
            f"{PROG}: {len(report.failures)} file(s) failed; see above or {report.record}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    return EXIT_OK


def _carry() -> int:
    from dp_pix.detect import CARRY_FRAMES

    return CARRY_FRAMES


def _regions_schema() -> str:
    from dp_pix.regions import FILE_SCHEMA

    return "regions file (--regions FILE):\n" + "\n".join(
        "  " + line for line in FILE_SCHEMA.splitlines()
    )


def _finder(args: argparse.Namespace) -> Any:
    """Region mode's ``pipeline.Options.regions`` from the arguments, or None."""
    from dp_pix import regions

    if args.regions is None and args.detect is None:
        if args.pad is not None:
            raise CommandError("--pad applies to --regions or --detect", EXIT_USAGE)
        if args.m == "region":
            raise CommandError(
                "-m region needs --regions FILE or --detect faces: M is the pixel count of "
                "each image's largest region", EXIT_USAGE,
            )
        return None
    if args.ray is not None:
        raise CommandError("--regions and --detect are not available with --ray yet", EXIT_USAGE)
    if args.output != "full":
        raise CommandError("--regions and --detect need --output full", EXIT_USAGE)
    boxes, digest, detector = None, None, None
    if args.regions is not None:
        try:
            boxes, digest = regions.read_file(args.regions)
        except OSError as exc:
            message = f"--regions: cannot read {args.regions}: {exc}"
            raise CommandError(message, EXIT_USAGE) from None
        except ValueError as exc:
            raise CommandError(f"--regions: {exc}", EXIT_USAGE) from None
    if args.detect is not None:
        from dp_pix import detect

        try:
            detector = detect.detector(args.detect)
        except ImportError as exc:
            raise CommandError(f"--detect {args.detect}: {exc}", EXIT_USAGE) from None
    return regions.Finder(
        boxes, detector, regions.DEFAULT_PAD if args.pad is None else args.pad,
        source=args.regions, digest=digest, detect=args.detect,
    )

_VIDEOS_SHOWN = 5


def _print_videos(videos: list[dict[str, Any]]) -> None:
    """Each clip's window and clip guarantees (the first few; all in the record)."""
    for v in sorted(videos, key=lambda v: str(v["output"]))[:_VIDEOS_SHOWN]:
        fps = f" at {v['fps']:.4g} fps" if v.get("fps") else ""
        rate = f", {v['frames'] / v['seconds']:.1f} frames/s" if v.get("seconds") else ""
        say(f"  video {v['output']}: {v['frames']} frames{fps}{rate}")
        say(f"    per window: {v['guarantee_window']}")
        say(f"    whole clip: {v['guarantee_clip']}")
        r = v.get("regions")
        if r is not None:
            carried = (
                f", {r['frames_with_detections']} with detections carried {r['carry_frames']} "
                "frames either way" if "carry_frames" in r else ""
            )
            say(
                f"    regions: {r['frames_with_regions']} of {v['frames']} frames, "
                f"{r['boxes']} box(es){carried}; frames without regions unchanged"
            )
        say(f"    audio: {v['audio']}")
    if len(videos) > _VIDEOS_SHOWN:
        say(f"  ... and {len(videos) - _VIDEOS_SHOWN} more videos: see the privacy record")


