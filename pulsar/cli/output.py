"""Rows of results (detections, segments, per-chunk outputs) as text, JSON or CSV, to stdout
or to a file: one writer, so every verb offers the same --format and --output."""
import csv
import io
import json
import sys

FORMATS = ("text", "json", "csv")


def add_output_options(parser):
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="text (readable), json (one array of objects) or csv (a header row)")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the rows to FILE instead of "
                        "stdout (the summary still goes to stdout)")


class RowWriter:
    """Collects rows (dicts with the same keys); text rows are printed as they come (live
    streams), JSON and CSV are written whole at `close` (JSON needs its closing bracket)."""

    def __init__(self, fmt, path=None, text=None):
        self.fmt, self.path, self.rows = fmt, path, []
        self.text = text or (lambda row: "  ".join(f"{k} {v}" for k, v in row.items()))
        self.file = open(path, "w", newline="") if path else sys.stdout

    def write(self, row):
        self.rows.append(row)
        if self.fmt == "text":
            print(self.text(row), file=self.file, flush=True)

    def close(self):
        if self.fmt == "json":
            json.dump(self.rows, self.file, indent=1)
            self.file.write("\n")
        elif self.fmt == "csv" and self.rows:
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=list(self.rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(self.rows)
            self.file.write(buf.getvalue())
        if self.path:
            self.file.close()
            print(f"wrote {len(self.rows)} row(s) to {self.path}")
        else:
            self.file.flush()
