"""scripts/toy_table.py: the 2-D mixtures' table is gan-report's, with the published rows, and rewrites only its
section of a docs page."""

from __future__ import annotations

import json






def test_toy_table_is_gan_reports_table_with_the_published_rows(tmp_path) -> None:
    """Two seeds' sweeps as gan-run writes them (config, overrides, summary); seed 1 of hinge + none diverged."""
    import toy_table

    for seed in (0, 1):
        for number, regulariser in enumerate(("none", "gp")):
            run = tmp_path / f"ring8_seed{seed}" / f"{number}_regulariser={regulariser}"
            (run / ".hydra").mkdir(parents=True)
            config = {"seed": seed, "regulariser": {regulariser: {"weight": 1.0}}, "train": {"batch_size": 256}}
            (run / ".hydra" / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
            (run / ".hydra" / "overrides.yaml").write_text(json.dumps(["objective=hinge", f"regulariser={regulariser}",
                                                                       f"seed={seed}"]))
            diverged = seed == 1 and regulariser == "none"
            metrics = {"toy/modes": 8.0 - seed, "toy/high_quality": 0.5 + seed / 10, "toy/reverse_kl": 0.1}
            (run / "summary.json").write_text(json.dumps(
                {"status": "diverged", "step": 12, "metrics": {}} if diverged else
                {"status": "completed", "step": 100, "wall_time_s": 60.0, "metrics": metrics}))
    text = toy_table.table(tmp_path, ["ring8", "grid25"])  # no grid25 sweeps: no grid25 table
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    # none: seed 0 alone (seed 1 diverged, counted, not averaged in); gp: both seeds
    assert rows[0].startswith("| `regulariser=none` | 2 | 1 | 1 | 0 | 0 | 8 (n=1, no interval) | 0.5 (n=1, no")
    assert rows[1].startswith("| `regulariser=gp` | 2 | 2 | 0 | 0 | 0 | 7.5 ± 6.4 | 0.55 ± 0.64 | 0.1 ± 0 |")
    assert len(rows) == 2 and "Published on ring8 (modes / high-quality % / reverse KL): GAN, PacGAN's" in text
    assert "grid25" not in text and (tmp_path / "report_ring8" / "report.md").is_file()


def test_toy_table_rewrites_only_its_section_of_a_docs_page(tmp_path) -> None:
    import toy_table

    page = tmp_path / "docs" / "results" / "toy2d.md"
    toy_table.write_doc(page, "toy_table", "| old | table |\n")  # no page yet: made, with the markers
    assert page.read_text() == ("<!-- toy_table.py toy_table: begin -->\n| old | table |\n"
                                "<!-- toy_table.py toy_table: end -->\n")
    page.write_text("# Title\n\nRebuilt by ...\n\n" + page.read_text() + "\nFindings, ![p](../p.png)\n")
    toy_table.write_doc(page, "toy_table_gp0", "| gp0 |")  # another section: appended, the first kept
    toy_table.write_doc(page, "toy_table", "| new | table |\n\nMade by `python scripts/toy_table.py`.\n")
    assert page.read_text() == (
        "# Title\n\nRebuilt by ...\n\n"
        "<!-- toy_table.py toy_table: begin -->\n| new | table |\n\nMade by `python scripts/toy_table.py`.\n"
        "<!-- toy_table.py toy_table: end -->\n\nFindings, ![p](../p.png)\n\n"
        "<!-- toy_table.py toy_table_gp0: begin -->\n| gp0 |\n<!-- toy_table.py toy_table_gp0: end -->\n")


def test_each_held_out_seed_is_shown_with_whether_every_seed_passed(tmp_path, monkeypatch) -> None:
    """--seeds 2 --first-seed 3 runs seeds 3 and 4 (held out from the seeds 0-2 the defaults were tuned on), and the
    table shows each seed's numbers: 'on every seed' is a claim about each, which a mean with its interval hides."""
    import toy_table

    ran = []
    monkeypatch.setattr(toy_table, "run_sweep", lambda folder, dataset, seed, *rest: ran.append(seed))
    toy_table.main(["--datasets", "ring8", "--seeds", "2", "--first-seed", "3", "--out", str(tmp_path / "out")])
    assert sorted(ran) == [3, 4]
    for seed, quality in ((3, 0.9), (4, 0.48)):
        run = tmp_path / "held_out" / f"ring8_seed{seed}" / "0_objective=hinge"
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "config.yaml").write_text(json.dumps({"seed": seed, "train": {"batch_size": 256}}))
        (run / ".hydra" / "overrides.yaml").write_text(json.dumps(["objective=hinge", f"seed={seed}"]))
        metrics = {"toy/modes": 8.0, "toy/high_quality": quality, "toy/reverse_kl": 0.01}
        study = {"choices": {"objective": "hinge", "regulariser": ["spectral_norm"]}}
        (run / "summary.json").write_text(json.dumps({"status": "completed", "step": 4000, "wall_time_s": 60.0,
                                                      "metrics": metrics, "study": study}))
    text = toy_table.table(tmp_path / "held_out", ["ring8"])
    assert "| hinge + spectral_norm | 8 / 90.0 / 0.010 | 8 / 48.0 / 0.010 | no |" in text
