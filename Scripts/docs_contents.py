"""Rewrites DOCS.md's contents list from its headings (# Part, ## N, ### N.M). Dev-time helper."""
import os, re
path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "DOCS.md")
text = open(path, encoding="utf-8").read()
start = text.index("Contents:\n\n") + len("Contents:\n\n")
end = text.index("\n# Part I")
lines = []
for line in text[end:].splitlines():
    if line.startswith("# Part"):
        lines.append("- **" + line[2:] + "**")
    elif re.match(r"## \d+ ", line):
        lines.append("  - " + line[3:])
    elif re.match(r"### \d+\.\d+ ", line):
        lines.append("    - " + line[4:])
text = text[:start] + "\n".join(lines) + "\n" + text[end:]
open(path, "w", encoding="utf-8").write(text)
