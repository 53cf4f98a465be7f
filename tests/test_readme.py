"""README's recipe table is the one the registry generates."""

import pathlib

import pytest

import recipes
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
