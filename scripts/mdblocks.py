"""Fenced code blocks of a Markdown file, for the docs checks (check-docs.sh,
check-readme.sh): one parser, so both read a block the same way."""
import sys


def fenced_blocks(path):
    """[(info string, text, first line number)] of every ``` block of path.
    Exits with a message naming the line of an unterminated block."""
    blocks, cur = [], None
    for n, line in enumerate(open(path).read().splitlines(keepends=True), 1):
        if cur is None:
            if line.startswith("```"):
                cur = (line[3:].strip(), [], n)
        elif line.rstrip("\n") == "```":
            blocks.append((cur[0], "".join(cur[1]), cur[2]))
            cur = None
        else:
            cur[1].append(line)
    if cur is not None:
        sys.exit(f"{path}:{cur[2]}: unterminated code block")
    return blocks
