"""What the web page shows of a report (predictions.json's content): a summary with each person's overall label,
and one table row per person and window. Plain functions of the report, no Gradio."""

import html

TOP_CLASSES = 3  # probabilities shown next to each person's overall label


def summary_markdown(report, name, seconds):
    """The video's facts, one table row per person (overall label, top classes, when on screen), and warnings."""
    n, fps = report["num_frames"], report["fps"]
    persons = report["persons"]
    lines = [
        f"### `{name.replace('`', '')}`: {len(persons)} {'person' if len(persons) == 1 else 'persons'}",
        f"{n} frames ({n / fps:.1f} s at {fps:.1f} fps), analysed in {seconds:.1f} s; the upload is deleted.",
        "",
    ]
    if persons:
        lines += ["| person | overall label | top classes | on screen |", "|---|---|---|---|"]
        lines += [_person_row(p) for p in persons]
    else:
        lines.append("No face found in the video: nothing to classify.")
    for note in (report["decoding_stopped"], report["warning"]):
        if note:
            lines += ["", f"> **warning**: {html.escape(note)}"]
    return "\n".join(lines)


def _person_row(person):
    seen = f"{person['first_s']:.1f}–{person['last_s']:.1f} s" if person["first_s"] is not None else "never"
    overall = person["overall"]
    if overall is None:
        return f"| {person['person']} | too little face to classify | | {seen} |"
    top = sorted(overall["probs"].items(), key=lambda kv: -kv[1])[:TOP_CLASSES]
    classes = ", ".join(f"{c} {p:.2f}" for c, p in top)
    return f"| {person['person']} | **{overall['label']}** | {classes} | {seen} |"


def window_headers(classes):
    return ["person", "start (s)", "end (s)", "label", "box (x1, y1, x2, y2)", *classes]


def window_rows(report):
    """One row per person and window: times, label ('no face' without one), face box, probabilities."""
    rows = []
    for person in report["persons"]:
        for w in person["windows"]:
            box = ", ".join(str(round(v)) for v in w["box"]) if w["box"] else ""
            probs = [round(w["probs"][c], 3) if w["probs"] else None for c in report["classes"]]
            rows.append([person["person"], w["start_s"], w["end_s"], w["label"], box, *probs])
    return rows
