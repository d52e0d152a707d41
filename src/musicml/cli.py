"""The ``musicml`` command: use a trained model, manage data sources, serve generation metadata.

Pipeline stages are separate scripts (``stages/``, run by ``dvc repro``);
this command holds what a person runs by hand.
"""

from __future__ import annotations

from pathlib import Path

import typer

from musicml.console import new_app, run
from musicml.errors import InputError

app = new_app("musicml: drum-hit classification, the intent router, MIDI datasets, generation metadata, "
              "and the data they train on. Run `musicml COMMAND --help`.")
kits_app = new_app("Real drum kits (Hydrogen format) as a data source.")
app.add_typer(kits_app, name="kits")
manifest_app = new_app("Your own labelled hits (events JSONL + audio) as a data source.")
app.add_typer(manifest_app, name="manifest")
soundfonts_app = new_app("General-MIDI SoundFonts (.sf2/.sf3) as a source of recorded drum kits.")
app.add_typer(soundfonts_app, name="soundfonts")

gen_app = new_app("Generation metadata database: snapshots for the gen_ stages, training use, retention.")
app.add_typer(gen_app, name="gen")

DB_HELP = "Database URL: sqlite:///file.db or postgresql+psycopg://user:pw@host/db (env MUSICML_DB_URL)."
DEFAULT_DB = "sqlite:///genmeta.db"

shards_app = new_app("Past one machine: join the outputs of sharded runs (shard.shard_count > 1, docs/scaling.md).")
app.add_typer(shards_app, name="shards")

midi_app = new_app("MIDI datasets (emotion, melody, harmony, dynamics, groove): import, label, count.")
app.add_typer(midi_app, name="midi")
audio_midi_app = new_app("Drum recordings with aligned General-MIDI files (<name>.wav + <name>.mid) as a data source.")
app.add_typer(audio_midi_app, name="audio-midi")

s3_app = new_app("The S3 remote (dvc remote 's3'): check it, or run a local SeaweedFS store to try it.")
app.add_typer(s3_app, name="s3")
s3_local_app = new_app("A local S3 store (SeaweedFS on 127.0.0.1) that the 's3' remote can point at.")
s3_app.add_typer(s3_local_app, name="local")
S3_LOCAL_DIR = ".s3-local"

deps_app = new_app("dvc.yaml's code deps: every library module a stage's script imports, directly or not.")
app.add_typer(deps_app, name="deps")


@app.command()
def predict(
    model: Path = typer.Option("models/drum_classifier.onnx", help="Exported ONNX model (torch not needed)."),
    manifest: Path = typer.Option(..., help="JSONL, one hit per line: audio_path, optional onset_s."),
    out: Path = typer.Option(..., help="JSONL to write: input fields + label, probabilities, unknown_score."),
    batch_size: int = typer.Option(64, help="Hits per onnxruntime call."),
) -> None:
    """Classify drum hits with the exported model.

    Without onset_s a row's hit starts at the first sound in its file.
    unknown_score (0-1) is high when the hit is probably not one of the known
    classes; it uses the open-set score the openset_eval stage found better and
    stored in the model: 1 - max probability, or the energy score centred on
    its 95 %-TPR threshold (0.5 there).
    """
    import pandas as pd

    from musicml.inference import OnnxClassifier, predict_manifest
    from musicml.manifest import write_jsonl

    rows = predict_manifest(OnnxClassifier.load(model), str(manifest), batch_size=batch_size)
    write_jsonl(pd.DataFrame(rows), out)
    typer.echo(f"predict: {len(rows)} hits -> {out}")


@kits_app.command("add")
def kits_add(
    source: Path = typer.Option(..., "--from", help="Folder of kit folders, each with a drumkit.xml."),
    dest: Path = typer.Option("data/raw/hydrogen", help="Where the kits are copied (DVC-tracked)."),
    params: Path = typer.Option("params.yaml", help="Params file to switch `sources.hydrogen` on in."),
    taxonomy: Path = typer.Option("configs/taxonomy.yaml", help="Taxonomy file (name-mapping rules)."),
    track: bool = typer.Option(True, help="Track each copied kit with `dvc add`."),
) -> None:
    """Copy kits, `dvc add` them, enable them in params.yaml and hold some out for testing. Idempotent."""
    from musicml.config import load_taxonomy, load_yaml
    from musicml.drums.kits import add_kits

    seed = int(load_yaml(params).get("seed", 0))
    changes = add_kits(source, dest_root=str(dest), params_path=str(params), taxonomy=load_taxonomy(taxonomy),
                       seed=seed, track=track)
    for line in changes:
        typer.echo(line)
    if not changes:
        typer.echo("kits: already up to date; params.yaml unchanged")


@manifest_app.command("add")
def manifest_add(
    source: Path = typer.Argument(..., help="Folder holding one or more events *.jsonl files and their audio."),
    name: str = typer.Option(None, help="Folder name under data/raw/manifest (default: the source's name)."),
    params: Path = typer.Option("params.yaml", help="Params file to switch `sources.manifest` on in."),
    track: bool = typer.Option(True, help="Track the copy with `dvc add`."),
) -> None:
    """Copy, validate, `dvc add` and enable a manifest folder. Idempotent.

    audio_path in the JSONL may be relative to the JSONL's folder. Bad rows fail
    with file:line and field before params.yaml is changed.
    """
    from musicml.sources import add_manifest

    changes = add_manifest(source, name=name, params_path=params, track=track)
    for line in changes:
        typer.echo(line)
    if not changes:
        typer.echo("manifest: already up to date; params.yaml unchanged")


@soundfonts_app.command("add")
def soundfonts_add(
    fonts: list[Path] = typer.Argument(..., help="SoundFont files (.sf2/.sf3) holding GM drum kits."),
    dest: Path = typer.Option("data/raw/soundfont", help="Where the fonts are copied (DVC-tracked)."),
    params: Path = typer.Option("params.yaml", help="Params file to switch `sources.soundfont` on in."),
    track: bool = typer.Option(True, help="Track each copied font with `dvc add`."),
) -> None:
    """Copy fonts, `dvc add` them and enable the soundfont source. Idempotent.

    The ingest_soundfont stage then plays every drum kit of every font with
    FluidSynth (install it: apt-get install fluidsynth).
    """
    from musicml.drums.soundfont import add_soundfonts

    changes = add_soundfonts(fonts, dest_root=dest, params_path=params, track=track)
    for line in changes:
        typer.echo(line)
    if not changes:
        typer.echo("soundfonts: already up to date; params.yaml unchanged")


@audio_midi_app.command("add")
def audio_midi_add(
    source: Path = typer.Argument(..., help="Folder holding <name>.wav + <name>.mid pairs (sub-folders allowed)."),
    name: str = typer.Option(None, help="Folder name under data/raw/audio_midi (default: the source's name)."),
    params: Path = typer.Option("params.yaml", help="Params file to switch `sources.audio_midi` on in."),
    taxonomy: Path = typer.Option("configs/taxonomy.yaml", help="Taxonomy file; reads `gm_drums`."),
    track: bool = typer.Option(True, help="Track the copy with `dvc add`."),
) -> None:
    """Label-check, copy, `dvc add` and enable a folder of audio + MIDI pairs. Idempotent.

    Every pair is read as the ingest_audio_midi stage reads it (GM notes on
    channel 10, CC4 through `drum_midi.calibration`) before anything is copied:
    a missing partner, an unreadable MIDI file or a note past the end of the
    audio fails with one line and leaves params.yaml unchanged.
    """
    from musicml.config import load_yaml, section
    from musicml.sources import add_audio_midi

    p = load_yaml(params)
    rules = _drum_midi_rules(p, taxonomy, vendor=section(p, "sources.audio_midi.vendor"),
                             on_unknown_note=section(p, "sources.audio_midi.on_unknown_note"))
    changes = add_audio_midi(source, rules=rules, name=name, params_path=params, track=track)
    for line in changes:
        typer.echo(line)
    if not changes:
        typer.echo("audio-midi: already up to date; params.yaml unchanged")


def _drum_midi_rules(p: dict, taxonomy: Path, *, vendor: str | None, on_unknown_note: str):
    from musicml.config import load_yaml, section
    from musicml.drums.audio_midi import rules_from_config
    from musicml.drums.openness import load_calibration
    from musicml.drums.soundfont import gm_drum_map

    doc = load_yaml(taxonomy)
    curve = load_calibration(section(p, "drum_midi.calibration")).curve(vendor)
    return rules_from_config(section(p, "drum_midi"), gm_map=gm_drum_map(doc), curve=curve,
                             priority=section(doc, "taxonomy.classes"), on_unknown_note=on_unknown_note)


@app.command("label-hit")
def label_hit_command(
    audio: Path = typer.Argument(..., help="The recording holding the hit (wav, flac, ...)."),
    time: float = typer.Argument(..., help="Onset of the hit, seconds from the start of the audio."),
    label: str = typer.Argument(..., help="A taxonomy class (configs/taxonomy.yaml) or `unknown`."),
    manifest: Path = typer.Option("data/raw/manifest/manifest.jsonl",
                                  help="Events JSONL to append to (created when missing); the manifest source reads it."),
    session: str = typer.Option(None, help="Recording session, the unit of splits (default: the audio's file name stem)."),
    kit: str = typer.Option("unknown", help="Drum kit name."),
    source: str = typer.Option("manual", help="Source name of the row."),
    velocity: int = typer.Option(None, help="MIDI-style velocity 1-127."),
    openness: float = typer.Option(None, help="Hi-hat openness 0-1."),
    technique: list[str] = typer.Option([], help="Playing technique (repeatable), e.g. hihat_bark, rimshot."),
    taxonomy: Path = typer.Option("configs/taxonomy.yaml", help="Taxonomy file (class list)."),
) -> None:
    """Append one hand-labelled hit to an events manifest, validated like every row, atomically.

    A hit already in the manifest with the same label is left alone; with
    another label it is an error naming that line.
    """
    from musicml.config import load_taxonomy
    from musicml.drums.labelling import label_hit

    row, added = label_hit(audio, time, label, manifest=manifest, classes=load_taxonomy(taxonomy).classes,
                           session_id=session, kit=kit, source=source, velocity=velocity, openness=openness,
                           techniques=technique)
    state = "added" if added else "already present"
    typer.echo(f"label-hit: {state}: {row['label']} at {row['onset_s']:.3f} s of {row['audio_path']} "
               f"(event {row['event_id']}) -> {manifest}")


@app.command("normalize-openness")
def normalize_openness_command(
    manifest: Path = typer.Argument(..., help="Events JSONL whose rows carry a raw `cc4` (0-127) and maybe `vendor`."),
    calibration: Path = typer.Option("configs/openness_calibration.json",
                                     help="Per-vendor CC4 -> openness curves (JSON, piecewise-linear points)."),
    vendor: str = typer.Option(None, help="Curve for rows without a `vendor` field (default: the file's default_vendor)."),
    out: Path = typer.Option(None, help="Write here instead of rewriting MANIFEST in place."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would change; write nothing."),
) -> None:
    """Set hi-hat `openness` 0-1 from e-drum CC4 through a vendor calibration curve."""
    from musicml.drums.openness import load_calibration, normalize_openness

    changes = normalize_openness(manifest, load_calibration(calibration), vendor=vendor, out=out, dry_run=dry_run)
    for change in changes[:20]:
        old = "null" if change.old is None else f"{change.old:.4f}"
        typer.echo(f"{manifest}:{change.line}: cc4 {change.cc4:g} ({change.vendor}): openness {old} -> {change.new:.4f}")
    if len(changes) > 20:
        typer.echo(f"... {len(changes) - 20} more")
    verb = "would change" if dry_run else "changed"
    typer.echo(f"normalize-openness: {verb} {len(changes)} rows" + ("" if dry_run else f" -> {out or manifest}"))


def _gen_params(params: Path) -> dict:
    """The `gen` section of params.yaml, or {} when the file is absent (serve runs anywhere)."""
    from musicml.config import load_yaml

    return load_yaml(params).get("gen", {}) if params.exists() else {}


def _store(db: str, *, migrate_schema: bool = True):
    from musicml.genmeta.db import Store

    return Store(db, migrate_schema=migrate_schema)


@app.command()
def serve(
    db: str = typer.Option(DEFAULT_DB, envvar="MUSICML_DB_URL", help=DB_HELP),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8002, help="TCP port."),
    params: Path = typer.Option("params.yaml", help="Reads `gen.serve`, `gen.quality`, `gen.analyze` when present."),
    audio_dir: Path = typer.Option("genmeta_audio", help="Where audio fetched from http(s) URLs is kept."),
    token: str = typer.Option(None, envvar="MUSICML_API_TOKEN", show_default=False,
                              help="When set, POST/PUT and exports need `Authorization: Bearer TOKEN`."),
) -> None:
    """Serve the training-metadata API under /api/training-metadata (creates or migrates the schema first).

    Routes: POST / (record; audio analysed in the background), GET /{generationId},
    PUT /{generationId}/feedback, GET /export/jsonl and /export/csv (provider, genre,
    minQualityScore, withFeedback, since), GET /statistics/overview, GET /similar/{generationId};
    and GET /health.
    """
    import uvicorn

    from musicml.genmeta.analysis import AnalysisSettings
    from musicml.genmeta.api import ServiceSettings, create_app
    from musicml.genmeta.quality import QualityWeights

    cfg = _gen_params(params)
    serve_cfg = cfg.get("serve", {})
    # tempo_tolerance scores the analyzer and workers is how gen_analyze runs: neither is an analysis setting.
    analysis = {k: v for k, v in cfg.get("analyze", {}).items() if k not in ("tempo_tolerance", "workers")}
    settings = ServiceSettings(
        token=token or None,
        export_rate_limit_per_minute=int(serve_cfg.get("export_rate_limit_per_minute", 30)),
        max_audio_bytes=int(float(serve_cfg.get("max_audio_mb", 50)) * 1024 * 1024),
        fetch_timeout_s=float(serve_cfg.get("fetch_timeout_s", 20)),
        audio_dir=str(audio_dir), weights=QualityWeights.from_params(cfg.get("quality", {})),
        analysis=AnalysisSettings(**analysis))
    from musicml.genmeta.db import masked

    store = _store(db)
    typer.echo(f"serve: schema ready on {masked(db)}; http://{host}:{port}/api/training-metadata")
    uvicorn.run(create_app(store, settings), host=host, port=port, log_level="warning")


@gen_app.command("snapshot")
def gen_snapshot(
    db: str = typer.Option(DEFAULT_DB, envvar="MUSICML_DB_URL", help=DB_HELP),
    out: Path = typer.Option(..., help="Snapshot folder to write, e.g. data/raw/genmeta/2026-11-25."),
    params: Path = typer.Option("params.yaml", help="Reads `gen.serve` (download limits) when present."),
    track: bool = typer.Option(True, help="Track the folder with `dvc add`."),
) -> None:
    """Dump the database (records JSONL, feedback log, audio) into a folder the gen_ stages read.

    Point the stages at it with `dvc exp run -S gen.snapshot=<folder>` (or edit params.yaml).
    """
    from musicml.genmeta.maintenance import snapshot

    serve_cfg = _gen_params(params).get("serve", {})
    counts = snapshot(_store(db), out, max_bytes=int(float(serve_cfg.get("max_audio_mb", 50)) * 1024 * 1024),
                      timeout_s=float(serve_cfg.get("fetch_timeout_s", 20)), track=track)
    typer.echo(f"snapshot: {counts['records']} records, {counts['audio']} audio files "
               f"({counts['missing_audio']} missing), {counts['feedback']} feedback events -> {out}")


@gen_app.command("mark-used")
def gen_mark_used(
    epoch: int = typer.Option(..., min=0, help="Training epoch (or run number) to record."),
    ids: Path = typer.Option(..., help="exported_ids.json, a JSONL with generationId (e.g. train.jsonl), or one id a line."),
    db: str = typer.Option(DEFAULT_DB, envvar="MUSICML_DB_URL", help=DB_HELP),
) -> None:
    """Set usedForTraining and trainingEpoch on the listed records."""
    from musicml.genmeta.maintenance import read_ids

    updated, unknown = _store(db).mark_used(read_ids(ids), epoch=epoch)
    typer.echo(f"mark-used: {updated} records marked with epoch {epoch}"
               + (f"; {len(unknown)} unknown ids (first: {unknown[0]})" if unknown else ""))


@gen_app.command("prune")
def gen_prune(
    older_than: float = typer.Option(None, "--older-than", min=0, help="Delete records created more than DAYS ago."),
    user: str = typer.Option(None, "--user", help="Delete every record of this userId (erasure request)."),
    db: str = typer.Option(DEFAULT_DB, envvar="MUSICML_DB_URL", help=DB_HELP),
    audio_dir: Path = typer.Option("genmeta_audio", help="The service's audio folder: copies of deleted records go too."),
) -> None:
    """Apply retention (--older-than) and/or erase one user's records (--user); both together must both match."""
    from musicml.genmeta.maintenance import prune

    result = prune(_store(db), older_than_days=older_than, user_id=user, audio_dir=audio_dir)
    typer.echo(f"prune: {result['records']} records and {result['audio_files']} audio files deleted")


@app.command()
def route(
    text: str = typer.Argument(None, help="One request, e.g. \"add a ii-V-I to the piano track at bar 9\"."),
    file: Path = typer.Option(None, "--file", help="Text file, one request per line (instead of TEXT)."),
    out: Path = typer.Option(None, "--out", help="JSONL to write with --file (default: stdout)."),
    model: Path = typer.Option("models/router/serving", help="Exported router folder (router_export)."),
    batch_size: int = typer.Option(64, help="Requests per onnxruntime call."),
) -> None:
    """Which agents a request needs: prints {"needsDAW", "needsArranger", "confidence"}.

    With --file every line is one request and every output line one JSON object
    (text, needsDAW, needsArranger, confidence), in input order. Runs on
    onnxruntime and tokenizers only (no torch).
    """
    import json

    from musicml.router.requests_io import read_request_lines
    from musicml.router.serving import OnnxRouter

    if (text is None) == (file is None):
        raise InputError("route", "give either TEXT or --file, not both and not neither")
    if out is not None and file is None:
        raise InputError("route", "--out needs --file")
    if file is not None:
        texts = read_request_lines(file)
    else:
        if not text.strip():
            raise InputError("TEXT", "empty request; expected some text")
        texts = [text.strip()]
    results = OnnxRouter.load(model).route(texts, batch_size=batch_size)
    if file is None:
        typer.echo(json.dumps(results[0]))
        return
    lines = "".join(json.dumps({"text": t, **r}) + "\n" for t, r in zip(texts, results))
    if out is None:
        typer.echo(lines, nl=False)
    else:
        from musicml.atomic import write_text

        write_text(out, lines)
        typer.echo(f"route: {len(texts)} requests -> {out}", err=True)


@midi_app.command("import")
def midi_import(
    source_dir: Path = typer.Argument(..., help="Folder of MIDI files; sub-folder names (happy/, swing/ ...) become "
                                                "labels through `midi.import.folder_labels`."),
    source: str = typer.Option(..., "--source", help="Source name: the folder under data/raw/midi."),
    dataset: str = typer.Option("emotion", help="Dataset the files feed: emotion, melody, harmony, dynamics, groove."),
    test: bool = typer.Option(False, help="Hold this source out as its own test set (reported separately)."),
    params: Path = typer.Option("params.yaml", help="Params file to enable the source in (comments kept)."),
    root: Path = typer.Option("data/raw/midi", help="Where sources are copied (DVC-tracked)."),
    track: bool = typer.Option(True, help="Track the copy with `dvc add`."),
) -> None:
    """Copy a MIDI folder to data/raw/midi/NAME, `dvc add` it and enable it. Idempotent.

    Then `dvc repro midi_eval` scans it: duplicates (by content hash) are kept
    once, unreadable files are skipped and listed in metrics/midi_import.json.
    """
    from musicml.midi.importer import add_midi_source

    changes = add_midi_source(source_dir, name=source, dataset=dataset, root=root, params_path=params, test=test,
                              track=track)
    for line in changes:
        typer.echo(line)
    if not changes:
        typer.echo(f"midi import: {source} already up to date; params.yaml unchanged")


@midi_app.command("stats")
def midi_stats(
    dataset: str = typer.Option(..., help="emotion, melody, harmony, dynamics or groove."),
    params: Path = typer.Option("params.yaml", help="Params file (dataset declarations, tempo bins)."),
    datasets: Path = typer.Option("data/midi/datasets", help="Folder of dataset manifests (midi_annotate)."),
    splits: Path = typer.Option("data/midi/splits", help="Folder of split files (midi_split)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Counts per label, key, mode, tempo bin, source and split."""
    import json

    from musicml.config import load_yaml, section
    from musicml.midi.datasets import load_manifest, manifest_frame, read_splits, stats_tables
    from musicml.midi.settings import load_settings

    midi = section(load_yaml(params), "midi")
    spec = _midi_spec(load_settings(midi), dataset)
    frame = manifest_frame(load_manifest(datasets / dataset / "manifest.json"))
    if (splits / dataset).is_dir():
        frame["split"] = frame["sample_id"].map(read_splits(splits / dataset))
    tables = stats_tables(frame, category=spec.category, tempo_edges=midi["validate"]["tempo_bins"])
    if as_json:
        typer.echo(json.dumps({"dataset": dataset, "samples": len(frame), **tables}, indent=2, sort_keys=True))
        return
    typer.echo(f"{dataset}: {len(frame)} samples")
    for name, counts in tables.items():
        typer.echo(f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def _midi_spec(settings, dataset: str):
    from musicml.errors import ConfigError

    if dataset not in settings.specs:
        raise ConfigError(f"unknown dataset '{dataset}': expected one of {list(settings.specs)}")
    return settings.specs[dataset]


@midi_app.command("annotate")
def midi_annotate(
    dataset: str = typer.Option(..., help="Dataset whose unverified samples to label."),
    params: Path = typer.Option("params.yaml", help="Params file (label values, labels file)."),
    datasets: Path = typer.Option("data/midi/datasets", help="Folder of dataset manifests (midi_annotate)."),
    limit: int = typer.Option(20, help="Ask about at most this many samples."),
) -> None:
    """Ask for the label of unverified samples (imported first) and record it as verified.

    Answer with the label (e.g. `happy`), optionally followed by valence and
    arousal for emotion (`happy 0.8 0.6`); an empty line skips the sample, `q`
    stops. Answers go to the tracked labels file (`midi.annotate.labels_file`)
    and win over automatic labels at the next `dvc repro`.
    """
    from musicml.config import load_yaml, section
    from musicml.midi.annotate import prompt_labels, read_manual_labels
    from musicml.midi.datasets import load_manifest
    from musicml.midi.settings import load_settings

    midi = section(load_yaml(params), "midi")
    settings = load_settings(midi)
    spec = _midi_spec(settings, dataset)
    labels_file = Path(midi["annotate"]["labels_file"])
    manual = read_manual_labels(labels_file, categories=settings.label_values)
    samples = load_manifest(datasets / dataset / "manifest.json")["samples"]
    recorded = prompt_labels(samples, dataset=dataset, category=spec.category,
                             allowed=settings.label_values[dataset].get(spec.category, []), manual=manual,
                             labels_file=labels_file, limit=limit, ask=_ask, say=typer.echo)
    typer.echo(f"annotate: {recorded} label(s) recorded in {labels_file}; `dvc repro midi_annotate` applies them")


@s3_app.command("check")
def s3_check(
    remote: str = typer.Option("s3", help="Name of the DVC remote."),
    repo: Path = typer.Option(Path("."), help="Repository root."),
) -> None:
    """Check that the remote has an s3:// url and credentials, before `dvc push/pull` (the store is not contacted)."""
    from musicml.remote import check_remote

    typer.echo(check_remote(repo, remote))


@s3_local_app.command("start")
def s3_local_start(
    data_dir: Path = typer.Option(Path(S3_LOCAL_DIR), "--dir", help="Data folder of the store (git-ignored)."),
    s3_port: int = typer.Option(8333, help="S3 port of a new store, 0 for any free one "
                                           "(a restarted store keeps its first)."),
    foreground: bool = typer.Option(False, help="Run in this terminal until Ctrl-C, instead of in the background."),
    configure: bool = typer.Option(True, help="Point the remote at the store with `dvc remote modify --local`."),
    remote: str = typer.Option("s3", help="Name of the DVC remote to configure."),
) -> None:
    """Start SeaweedFS (master, volume, filer, S3 gateway) on 127.0.0.1 and create the bucket.

    Prints the endpoint and the `dvc remote modify --local` commands (run
    already unless --no-configure). The data folder keeps objects, ports and
    credentials across restarts. Stop it with `musicml s3 local stop` (make s3-local-stop).
    """
    import shlex
    import signal

    from musicml.errors import ConfigError
    from musicml.remote import apply_local_settings, local_settings
    from musicml.seaweed import SeaweedStore

    if configure and not Path(".dvc").is_dir():  # checked before a store is left running unconfigured
        raise ConfigError(f"{Path.cwd()}: not a DVC repository; run from the repo root or pass --no-configure")
    store = SeaweedStore(data_dir, s3_port=s3_port)
    store.start(foreground=foreground)
    s = store.settings
    commands = local_settings(endpoint=store.endpoint, bucket=s.bucket, access_key=s.access_key,
                              secret_key=s.secret_key, name=remote)
    if configure:
        apply_local_settings(commands)
    typer.echo(f"SeaweedFS S3 at {store.endpoint}, bucket '{s.bucket}', pid {store.process.pid}, data in {data_dir}")
    typer.echo("remote settings" + (" (applied):" if configure else " (run these):"))
    for command in commands:
        typer.echo("  " + shlex.join(command))
    typer.echo(f"then: make push / make pull (dvc push -r {remote}); stop: make s3-local-stop")
    if foreground:
        # Ctrl-C reaches weed too (same process group); wait for it to finish shutting down.
        signal.signal(signal.SIGINT, lambda *_: None)
        store.process.wait()
        store.stop()  # already exited: removes the pid file and weed's leftover sockets


@s3_local_app.command("stop")
def s3_local_stop(
    data_dir: Path = typer.Option(Path(S3_LOCAL_DIR), "--dir", help="Data folder of the store."),
) -> None:
    """Stop the store started from --dir (its objects stay; start it again to serve them)."""
    from musicml.seaweed import SeaweedStore

    if not (data_dir / "store.json").exists():
        typer.echo(f"s3 local: no store in {data_dir}")
        return
    store = SeaweedStore(data_dir)
    pid = store.running_pid()
    store.stop()
    typer.echo(f"s3 local: stopped pid {pid}" if pid else f"s3 local: not running ({data_dir})")


def _ask(prompt: str) -> str | None:
    """One answer line from stdin (None at end of input)."""
    import sys

    typer.echo(prompt, nl=False)
    line = sys.stdin.readline()
    return None if line == "" else line.strip()


@shards_app.command("merge-manifests")
def shards_merge_manifests(
    shards: list[Path] = typer.Argument(..., help="Shard manifests (Parquet) of one ingest stage, one per shard."),
    out: Path = typer.Option(..., help="Merged manifest to write (the unsharded stage's output)."),
) -> None:
    """Concatenate the shard manifests of one ingest stage: the result is the unsharded manifest, byte for byte."""
    from musicml.manifest import write_events
    from musicml.shards import merge_manifest_shards

    merged = merge_manifest_shards(shards)
    write_events(merged, out)
    typer.echo(f"shards: {len(merged)} events from {len(shards)} shards -> {out}")


@shards_app.command("merge-features")
def shards_merge_features(
    stores: list[Path] = typer.Argument(..., help="Shard feature stores (folders with features.npy + index.parquet)."),
    out: Path = typer.Option("data/processed/features", help="Merged store to write."),
    order: list[Path] = typer.Option(
        ["data/interim/dataset.parquet", "data/interim/augmented.parquet"], "--order",
        help="Manifests the features stage reads, in its order: rows follow them, as unsharded. "
             "Pass --no-order to keep shard order."),
    keep_shard_order: bool = typer.Option(False, "--no-order", help="Rows shard after shard; ignore --order."),
) -> None:
    """Concatenate shard feature stores; in --order it is the unsharded store, byte for byte."""
    from musicml.shards import merge_feature_stores, read_order

    rows = merge_feature_stores(stores, out, order=None if keep_shard_order else read_order(order))
    typer.echo(f"shards: {rows} feature rows from {len(stores)} stores -> {out}")
@app.command("compare-metrics")
def compare_metrics_cmd(
    ref: str = typer.Option("main", help="Git ref of the baseline (branch, tag, commit)."),
    params: Path = typer.Option("params.yaml", help="Params file; reads `compare` (guards, max_drop, ...)."),
    json_output: Path = typer.Option(None, "--json-output", help="Write the checks as JSON here too."),
) -> None:
    """Regression guards of the workspace's metrics against REF; exit 1 when one fails.

    Fails when a guarded figure (e.g. macro-F1) gets worse by more than its
    tolerance, a label's count drops by more than `compare.max_drop`, a gate
    that passed on REF fails now, or the unknown-label count grows.
    """
    from musicml.atomic import write_json
    from musicml.compare import CompareConfig, compare_metrics, format_checks, metrics_sources, read_metrics_at
    from musicml.config import load_yaml, section
    from musicml.errors import GateError

    config = CompareConfig.from_params(section(load_yaml(params), "compare"))
    files = metrics_sources(config)
    result = compare_metrics(read_metrics_at(ref, files), read_metrics_at(None, files), config)
    typer.echo(format_checks(result, ref_name=ref), nl=False)
    if json_output is not None:
        write_json(json_output, {"ref": ref, **result})
    if not result["passed"]:
        raise GateError(f"{len(result['failures'])} regression(s) vs {ref}: {result['failures'][0]}")


@app.command("report")
def report_cmd(
    base: str = typer.Option("main", help="Git ref to diff metrics, params and plots against."),
    out: Path = typer.Option("report.md", help="Markdown report to write (what CML posts)."),
    plots_dir: Path = typer.Option("report-plots", help="Folder for the plots diff (index.html, images)."),
    readiness: Path = typer.Option("metrics/readiness.json", help="Readiness report to show as a table."),
    guards: Path = typer.Option(None, help="Printout of `musicml compare-metrics` to include (optional)."),
    title: str = typer.Option("Drum classifier: this change vs {base}", help="Heading; {base} is filled in."),
) -> None:
    """Build report.md: readiness table, `dvc metrics diff`, `dvc params diff`, `dvc plots diff` images.

    Plot images need vega-lite's `vl2svg` on PATH (npm install -g vega-lite
    vega-cli); without it the report points at the HTML diff in PLOTS_DIR.
    """
    from musicml.release.report import build_report

    build_report(base=base, out=out, plots_dir=plots_dir, readiness_path=readiness, guards_path=guards,
                 title=title.format(base=base))
    typer.echo(f"report: {out} (plots in {plots_dir})")


@app.command("release")
def release_cmd(
    version: str = typer.Argument(..., help="Semantic version with a leading v, e.g. v0.1.0."),
    artifact: str = typer.Option("drum-classifier", help="Artifact name declared in dvc.yaml `artifacts:`."),
    readiness: Path = typer.Option("metrics/readiness.json", help="Readiness report that must have passed."),
    ref: str = typer.Option("HEAD", help="Commit to register."),
) -> None:
    """Register VERSION of the model with GTO (a git tag), only when readiness passed and is committed.

    Push the tag yourself (git push origin TAG); `gto show` lists versions and stages.
    """
    from musicml.release.registry import register

    typer.echo(register(artifact, version, readiness_path=readiness, ref=ref))


@app.command("sweep")
def sweep_cmd(
    params: Path = typer.Option("params.yaml", help="Params file; reads `sweep` (grid, prefix, rank_by)."),
    jobs: int = typer.Option(1, envvar="SWEEP_JOBS", help="Experiments run at once (dvc queue start -j)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the dvc command lines, run nothing."),
) -> None:
    """Queue every point of `sweep.grid` with `dvc exp run --queue -S key=value ...`, then `dvc queue start -j N`.

    Follow with `dvc queue status`; `dvc exp show --sort-by <sweep.rank_by>` ranks the results.
    """
    import shlex
    import subprocess

    from musicml.config import load_yaml, section
    from musicml.errors import MusicmlError
    from musicml.sweep import queue_commands, rank_command, start_command

    cfg = section(load_yaml(params), "sweep")
    commands = queue_commands(cfg["grid"], prefix=cfg.get("prefix", "sweep")) + [start_command(jobs)]
    for cmd in commands:
        typer.echo(shlex.join(cmd))
        if not dry_run and subprocess.run(cmd).returncode != 0:
            raise MusicmlError(f"sweep: command failed: {shlex.join(cmd)}")
    typer.echo(f"sweep: {len(commands) - 1} experiments; rank them with: {shlex.join(rank_command(cfg['rank_by']))}")


@app.command()
def transcribe(
    audio: Path = typer.Argument(..., help="Recording to transcribe (wav, flac, ogg ...; any length)."),
    model: Path = typer.Option(None, help="Exported ONNX model (torch not needed); default: "
                                          "models/transcriber.onnx for --method frames, "
                                          "models/drum_classifier.onnx for --method onsets."),
    out: Path = typer.Option(..., help="JSONL to write: one event a line (time_s, label, confidence)."),
    params: Path = typer.Option("params.yaml", help="Reads the `transcribe` section when present."),
    method: str = typer.Option(None, help="frames: the frame-level transcriber; onsets: onset detection + the "
                                          "one-shot classifier (default: the kind of --model when given, "
                                          "else params `transcribe.method`)."),
    window_ms: float = typer.Option(None, help="Analysis window (default: params, 2048)."),
    hop_ms: float = typer.Option(None, help="Hop between windows (default: params, 512)."),
    onset_threshold: float = typer.Option(None, help="Onsets method: onset sensitivity, lower finds quieter "
                                                     "hits (default: params, 0.1)."),
    probabilities: bool = typer.Option(False, help="Onsets method: add every class's probability to each event."),
    progress: bool = typer.Option(None, help="Progress bar on stderr (default: for files over 30 s)."),
) -> None:
    """Find the drum hits in a recording and label them, streaming window by window.

    Only a window (plus context) of the file is in memory at a time. Silent
    audio gives an empty file. A kick under a hi-hat is two events at one time.
    """
    from musicml.config import load_yaml
    from musicml.drums.transcribe import StreamConfig, load_transcriber, method_of, transcribe as run, \
        write_events_jsonl

    section_params = load_yaml(params).get("transcribe", {}) if params.exists() else {}
    if method is None and model is not None:
        method = method_of(model, section_params.get("method", "onsets"))
    config = StreamConfig.from_params(section_params, window_ms=window_ms, hop_ms=hop_ms,
                                      onset_threshold=onset_threshold, method=method)
    events = run(audio, load_transcriber(config, model), config, with_probabilities=probabilities,
                 progress=progress)
    count = write_events_jsonl(events, out)
    typer.echo(f"transcribe: {count} events -> {out}", err=True)


@app.command("compare-manifests")
def compare_manifests_cmd(
    baseline: Path = typer.Argument(..., help="Baseline events manifest (Parquet or JSONL)."),
    candidate: Path = typer.Argument(..., help="Candidate events manifest (Parquet or JSONL)."),
    json_output: Path = typer.Option(None, "--json-output", help="Write the full diff as JSON here."),
    max_drop: int = typer.Option(25, min=0, help="A label losing more events than this is a regression."),
    ignore_label: list[str] = typer.Option(None, "--ignore-label", help="Label never counted as a regression "
                                                                        "(repeatable)."),
    strict: bool = typer.Option(True, help="Exit 1 when a label drops beyond --max-drop."),
) -> None:
    """Session / label / source / technique deltas between two manifests; per-class drops beyond --max-drop."""
    from musicml.atomic import write_json
    from musicml.drums.manifest_diff import compare_manifests, format_diff
    from musicml.errors import GateError
    from musicml.manifest import read_events

    diff = compare_manifests(read_events(baseline), read_events(candidate), max_drop=max_drop,
                             ignore_labels=ignore_label or [])
    diff.update(baseline=str(baseline), candidate=str(candidate))
    for line in format_diff(diff):
        typer.echo(line)
    if json_output is not None:
        write_json(json_output, diff)
    if strict and not diff["passed"]:
        raise GateError(f"labels dropped more than {max_drop} events: {', '.join(diff['label_drops'])}")


@app.command()
def stats(
    manifest: Path = typer.Argument(..., help="Events manifest (Parquet, e.g. data/interim/dataset.parquet, "
                                              "or JSONL)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of lines."),
) -> None:
    """Counts per label, source and split (when present), sessions and techniques of a manifest."""
    import json

    from musicml.drums.manifest_diff import manifest_stats
    from musicml.manifest import read_events

    table = manifest_stats(read_events(manifest))
    if as_json:
        typer.echo(json.dumps(table, indent=2, sort_keys=True))
        return
    typer.echo(f"{manifest}: {table['events']} events, {table['sessions']} sessions")
    for name in ("labels", "sources", "splits", "techniques"):
        if name in table:
            typer.echo(f"{name}: " + (", ".join(f"{k} {v}" for k, v in table[name].items()) or "none"))


def _missing_stage_deps(dvc_yaml: Path) -> dict[str, list[str]]:
    from musicml.config import load_yaml
    from musicml.stagedeps import missing_deps

    stages = load_yaml(dvc_yaml).get("stages") or {}
    return missing_deps(stages, root=dvc_yaml.resolve().parent)


@deps_app.command("check")
def deps_check(
    dvc_yaml: Path = typer.Option(Path("dvc.yaml"), "--dvc-yaml", help="The pipeline file; paths are relative to its folder."),
) -> None:
    """List, per stage, the library modules its script imports but its `deps` lack; exit 1 if any.

    A module missing from `deps` is a code change `dvc repro` cannot see: the stage's
    output would stay as the old code made it. `musicml deps sync` adds them.
    """
    missing = _missing_stage_deps(dvc_yaml)
    for name, paths in missing.items():
        typer.echo(f"{dvc_yaml}: stage {name}: deps lack {', '.join(paths)}")
    if missing:
        raise typer.Exit(1)
    typer.echo(f"{dvc_yaml}: every stage lists the modules it imports")


@deps_app.command("sync")
def deps_sync(
    dvc_yaml: Path = typer.Option(Path("dvc.yaml"), "--dvc-yaml", help="The pipeline file to add missing deps to."),
) -> None:
    """Add every missing module to its stage's `deps` (after the stage's last code dep); other lines stay."""
    from musicml.atomic import write_text
    from musicml.stagedeps import add_deps

    missing = _missing_stage_deps(dvc_yaml)
    if not missing:
        typer.echo(f"{dvc_yaml}: nothing to add")
        return
    write_text(dvc_yaml, add_deps(dvc_yaml.read_text(), missing))
    for name, paths in missing.items():
        typer.echo(f"{name}: + {', '.join(paths)}")


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
