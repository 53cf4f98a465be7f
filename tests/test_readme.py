"""README's recipe table is the one the registry generates, and what README promises
about the flags, the bench scripts and a run's files is what the code does."""

import ast
import fnmatch
import inspect
import pathlib
import re
import textwrap
import types

import numpy as np
import pytest
from absl import flags

import recipes
from engine import choices, cli, evaluate, report, rundir
from engine.spec import RunSpec, resolve, run_record, transfer_record
from recipes.readme import BEGIN, END, readme_section, recipe_table, update_readme

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
REGENERATE = "run `python -m recipes.readme README.md` and commit README.md"


def test_readme_lists_every_registered_recipe():
    rows = readme_section(README.read_text()).splitlines()[2:]
    listed = [row.split("|")[1].strip().strip("`") for row in rows]
    assert listed == recipes.names(), REGENERATE


def test_recipe_table_rows_come_from_the_registry_and_the_summary():
    table = recipe_table(["lenet5", "mlp", "resnet20"]).splitlines()
    assert table[0] == ("| recipe | paper | year | input | parameters | learnable parameters "
                        "| GMACs |")
    # LeNet-5: the paper's 60,000 parameters, all learnable; 328,096 multiply-adds (C1
    # 117,600 + S2 1,176 + C3 150,000 + S4 400 + C5 48,000 + F6 10,080 + RBF 840).
    assert table[2] == (f"| `lenet5` | {recipes.get('lenet5').paper} | 1998 | 32x32x1 | 60,000 "
                        f"| 60,000 | 0.000328 |")
    assert table[3].startswith("| `mlp` |") and "| 28x28x1 | 269,322 | 269,322 |" in table[3]
    # ResNet-20: count_params() includes the moving mean and variance of its 688 batch-norm
    # channels (16 + 6 x 16 + 6 x 32 + 6 x 64); the learnable count (the paper's 0.27M) does not.
    assert "| 32x32x3 | 271,098 | 269,722 |" in table[4]
    assert 271_098 - 269_722 == 2 * (16 + 6 * 16 + 6 * 32 + 6 * 64)


def test_update_readme_rewrites_only_the_generated_section(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{BEGIN}\n| stale |\n{END}\n\nAfter.\n")
    assert update_readme(str(readme), table="| fresh |")
    assert readme.read_text() == f"# Title\n\n{BEGIN}\n| fresh |\n{END}\n\nAfter.\n"
    assert readme_section(readme.read_text()) == "| fresh |"
    assert not update_readme(str(readme), table="| fresh |")
    readme.write_text("# No markers\n")
    with pytest.raises(ValueError, match="no recipe table markers"):
        update_readme(str(readme), table="| fresh |")


@pytest.mark.slow
def test_readme_recipe_table_is_up_to_date():
    # Builds every recipe once (about a minute on 2 cores).
    assert readme_section(README.read_text()) == recipe_table(), REGENERATE


# --- what README promises about the command line, the bench scripts and a run's files --------

FENCED_BLOCK = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)


def code_spans(text: str) -> list[str]:
    """The contents of ``text``'s inline code spans (``x`` and ```` ``x`` ````), outside
    fenced code blocks."""
    return [match.group(2).strip() for match in CODE_SPAN.finditer(FENCED_BLOCK.sub("", text))]


def table_rows(header: str) -> list[dict[str, str]]:
    """The rows, each ``{column: cell}``, of every README table whose header row starts
    with ``header``."""
    rows, columns = [], None
    for line in README.read_text().splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        # A | inside a code span does not end the cell: split where an even number of
        # backticks follows.
        cells = [cell.strip() for cell in re.split(r"\|(?=(?:[^`]*`[^`]*`)*[^`]*$)", line)[1:-1]]
        if columns is None and line.startswith(header):
            columns = cells
        elif columns is not None and not set(line) <= set("|-: "):
            rows.append(dict(zip(columns, cells)))
    return rows


def flag_rows() -> list[tuple[list[str], dict[str, str]]]:
    """The flags each row of README's flag tables (Flags, Training, the tune flags)
    documents, with the row."""
    return [(re.findall(r"`--(\w+)`", row["flag"]), row) for row in table_rows("| flag |")]


def train_flags() -> dict[str, flags.Flag]:
    return {flag.name: flag for flag in flags.FLAGS.get_flags_for_module(cli.__name__)}


# README's words for a default that is not a value in backticks.
DEFAULT_WORDS = {"none": None, "off": False, "on": True}


def documented_defaults(cell: str) -> list | None:
    """The defaults a default cell gives, one per flag of its row (a backticked value as
    README shows it, or one of :data:`DEFAULT_WORDS`' values), or None where the cell
    describes its default instead (``the recipe's``, ``<model_dir>/export``)."""
    values = []
    for item in cell.split(", "):
        literal = re.fullmatch(r"`([^`<]+)`", item)
        if literal:
            values.append(literal.group(1))
        elif item in DEFAULT_WORDS:
            values.append(DEFAULT_WORDS[item])
        else:
            return None
    return values


def as_documented(default):
    """A flag's default as README writes it: lists comma-separated, other values as text;
    None and booleans as themselves (README's words, :data:`DEFAULT_WORDS`)."""
    if default is None or isinstance(default, bool):
        return default
    if isinstance(default, list):
        return ",".join(default)
    return str(default)


def test_every_flag_is_documented_with_its_default():
    defined = train_flags()
    documented = flag_rows()
    assert {name for names, _ in documented for name in names} == set(defined)
    for names, row in documented:
        defaults = documented_defaults(row.get("default", ""))
        if defaults is None:
            continue
        assert len(defaults) == len(names), row
        for name, default in zip(names, defaults):
            assert as_documented(defined[name].default) == default, f"--{name}: {row}"


def test_the_recipes_that_validate_on_nothing_are_named_where_the_default_is():
    # The flag's row and help named lenet5 alone; three more recipes default to 0.
    whole = {name for name in recipes.names() if recipes.get(name).training.validation_fraction == 0}
    row = next(row for names, row in flag_rows() if names == ["validation_fraction"])
    named = set(re.findall(r"`(\w+)`", row["default"]))
    assert named == whole and set(re.findall(r"\w+", train_flags()["validation_fraction"].help)) \
        >= whole


# Every flag whose values are a list of engine.choices.
FLAG_CHOICES = {"mode": choices.MODES, "optimizer": choices.OPTIMIZERS,
                "schedule": choices.SCHEDULES, "augment": choices.AUGMENTATIONS,
                "normalization": choices.NORMALIZATIONS, "tta": choices.TTA_MODES,
                "precision": choices.PRECISIONS, "distribute": choices.DISTRIBUTE_MODES,
                "transfer": choices.TRANSFER_MODES, "export_format": choices.EXPORT_FORMATS,
                "output": choices.OUTPUT_FORMATS, "init": choices.INITIALIZATIONS,
                "activation": choices.ACTIVATIONS, "tuner": choices.TUNERS,
                "objective": choices.OBJECTIVES, "weight_decay_scope": choices.WEIGHT_DECAY_SCOPES}


def values_in(spans) -> set[str]:
    """The values the code spans ``spans`` name (``saved_model,tflite`` names two), flags
    (``--mode=predict``) left out."""
    return {value for span in spans if not span.startswith("--") for value in span.split(",")}


def masked_code(cell: str) -> tuple[str, list[str]]:
    """``cell`` with each code span replaced by ``\\0<index>\\0``, and the spans: the
    cell's punctuation and parentheses, read without those inside its code."""
    spans = []
    text = CODE_SPAN.sub(lambda match: spans.append(match.group(2)) or f"\0{len(spans) - 1}\0",
                         cell)
    return text, spans


def listed_values(cell: str) -> set[str]:
    """The values ``cell`` lists: the code spans that open an item of its text split at
    ``,``, ``;``, ``:``, ``or`` and parentheses, as :func:`values_in`. Parentheses after a
    value describe it and list nothing (``mirrored`` (all local GPUs, ``TF_CONFIG``));
    spans inside sentences are mentions, not choices (``the `mlp` recipe``)."""
    text, spans = masked_code(cell)
    describing, items, item = [], [], ""  # describing: for each open parenthesis
    for character in text:
        if character == "(":
            describing.append(any(describing) or item.rstrip().endswith("\0"))
        closing = character == ")" and describing.pop()
        if any(describing) or closing \
                or not (character in ",;:()" or (item + character).endswith(" or ")):
            item += character
        else:
            items.append(item)
            item = ""
    items.append(item)
    return values_in(spans[int(opening.group(1))] for item in items
                     if (opening := re.match(r"\s*\0(\d+)\0", item)))


def test_readme_choice_lists_are_engine_choices():
    enum_flags = {name for name, flag in train_flags().items() if isinstance(flag, flags.EnumFlag)}
    assert enum_flags | {"export_format"} == set(FLAG_CHOICES)
    for names, row in flag_rows():
        row_choices = {value for name in names for value in FLAG_CHOICES.get(name, ())}
        if not row_choices or "transfer" in names:
            continue
        # README leaves --tta's none and --output's text to the default cell.
        defaults = zip(names, documented_defaults(row.get("default", "")) or ())
        listed = listed_values(row["meaning"]) | {value for name, value in defaults
                                                  if name in FLAG_CHOICES}
        assert listed == row_choices, row
    # The row of --transfer says "transfer learning, below": its modes are in that section.
    transfer_modes = re.findall(r"`--transfer=(\w+)`", README.read_text())
    assert set(transfer_modes) == set(FLAG_CHOICES["transfer"])


BENCH = README.parent / "bench"


def bench_commands() -> list[tuple[str, list[str]]]:
    """Each ``python bench/X.py ...`` command of README's code (spans and blocks): the
    script's name and the flags it is given."""
    code = [" ".join(span.split()) for span in code_spans(README.read_text())]
    code += FENCED_BLOCK.findall(README.read_text().replace("\\\n", " "))
    return [(script, re.findall(r"(?<!\S)--(\w+)", arguments))
            for piece in code
            for script, arguments in re.findall(r"python bench/(\w+)\.py([^#;&|\n]*)", piece)]


def defined_flags(source: str) -> dict[str, str]:
    """The flags a script defines (name: ``DEFINE_<kind>``'s kind), read from its source."""
    return dict((name, kind) for kind, name in
                re.findall(r"flags\.DEFINE_(\w+)\(\s*[\"'](\w+)[\"']", source))


def test_bench_commands_use_defined_flags():
    commands = bench_commands()
    assert {script for script, _ in commands} >= {"input_pipeline", "loop_overhead", "throughput",
                                                  "time_to_accuracy", "reproduce_lenet5"}
    for script, given in commands:
        assert (BENCH / f"{script}.py").is_file(), f"python bench/{script}.py: no such script"
        defined = defined_flags((BENCH / f"{script}.py").read_text())
        for name in given:
            boolean = name.removeprefix("no")
            assert name in defined or defined.get(boolean) == "boolean", \
                f"python bench/{script}.py --{name}: the script defines no such flag"


def test_search_space_table_covers_every_recipe():
    patterns = []
    for row in table_rows("| recipes | architecture entries"):
        for span in code_spans(row["recipes"]):
            numbered = re.fullmatch(r"(\D+)(\d+(?:/\d+)+)", span)  # plain18/34
            patterns += ([numbered.group(1) + number for number in numbered.group(2).split("/")]
                         if numbered else [span])
    names = recipes.names()
    assert [name for name in names if not any(fnmatch.fnmatchcase(name, pattern)
                                              for pattern in patterns)] == []
    assert [pattern for pattern in patterns if not fnmatch.filter(names, pattern)] == []


def documented_keys(file: str) -> set[str]:
    """The top-level keys of ``file`` that README's "What a run writes" table lists: the
    names in code of its cell's first sentence (the later ones name other things: ``Later
    modes (`evaluate`, ...)``), less those of a key's own keys (``versions`` (``convnet_recipes``:
    ...))."""
    cell = next(row["what"] for row in table_rows("| file | what |") if row["file"] == f"`{file}`")
    text, spans = masked_code(cell)
    first_sentence = re.split(r"\. (?=[A-Z])", text)[0]
    own_keys = r"(\0\d+\0) \(\0\d+\0:[^()]*(?:\([^()]*\)[^()]*)*\)"
    names = (spans[int(index)] for index in
             re.findall(r"\0(\d+)\0", re.sub(own_keys, r"\1", first_sentence)))
    return {name for name in names if re.fullmatch(r"[a-z][a-z0-9_]*", name)}


def report_keys(spec: RunSpec, monkeypatch) -> set[str]:
    """The keys of :func:`engine.report.training_report`'s record, read from its source:
    its own, those of the dicts it unpacks (``transfer_record``'s, and the evaluation's with
    every optional key: dense test-time augmentation's)."""
    source = ast.parse(textwrap.dedent(inspect.getsource(report.training_report)))
    record = next(node.value for node in ast.walk(source) if isinstance(node, ast.Return))
    keys = {key.value for key in record.keys if key is not None}
    unpacked = {ast.unparse(value) for key, value in zip(record.keys, record.values)
                if key is None}
    assert unpacked == {"transfer_record(spec)", "evaluation"}
    outputs = (np.eye(2), np.arange(2))
    monkeypatch.setattr(evaluate, "predict", lambda model, pipeline: outputs)
    monkeypatch.setattr(evaluate, "predict_test_split", lambda model, prepared, tta: outputs)
    prepared = types.SimpleNamespace(pipelines=types.SimpleNamespace(test=None),
                                     augmentation=None, spec=types.SimpleNamespace(test_scale=64))
    dense = evaluate.evaluate(None, prepared, "dense")
    return keys | transfer_record(spec).keys() | dense.keys()


def test_documented_run_json_keys_are_the_written_ones(monkeypatch):
    spec = resolve("lenet5_modern", recipes.get("lenet5_modern").training)
    written = run_record(spec, class_names=["0", "1"], input_shape=(32, 32, 1),
                         split_sizes={"train": 1, "validation": 1, "test": 1})
    # --mode=train adds the layers --init_from started (engine/modes/train.py); --mode=tune's
    # "search" is README's "What a search writes".
    assert documented_keys(rundir.RUN_FILE) == written.keys() | {rundir.PRETRAINED_LAYERS}
    assert documented_keys(rundir.REPORT_FILE) == report_keys(spec, monkeypatch)
