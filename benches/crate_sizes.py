#!/usr/bin/env python3
"""Sums the symbol sizes of an unstripped binary per crate, like `cargo bloat --crates`.

    nm -S --size-sort -C BINARY > nm.txt && benches/crate_sizes.py nm.txt [--top 25]

A symbol counts for the crate its demangled path starts with (`<T as Trait>::f` counts for T's
crate; core/alloc/std are "std"). Generic code is counted where it was instantiated under the
name of the crate that defines it, and inlined code inside its caller, so the split is an
estimate. C and assembly symbols are grouped by prefix (`ring_core_*`, `aws_lc_*`); unprefixed
ones (ring's P-256 table, Ed25519 field arithmetic, ...) together; LLVM's `anon.*` constants as such.
"""

import argparse
import collections
import re

STD = {"core", "alloc", "std", "compiler_builtins", "hashbrown", "std_detect", "panic_abort", "rustc_demangle",
       "adler2", "miniz_oxide", "addr2line", "gimli", "object", "memchr"}


def crate_of(name: str) -> str:
    name = name.strip()
    if name.startswith("anon.") or name.startswith(".L"):
        return "[anonymous Rust constants]"
    # Trait impls: <T as Trait>::f or <T>::f -> T's crate; <&T as Trait> (T generic) -> Trait's.
    while name.startswith("<"):
        name = name[1:]
    name = re.sub(r"^(dyn |impl |&mut |&|\*const |\*mut |\[)+", "", name)
    generic = re.match(r"[A-Z][A-Za-z0-9_]* as (.*)", name)
    if generic:
        name = generic.group(1)
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", name)
    if m:
        crate = m.group(1)
        return "std" if crate in STD else crate
    if name.startswith(("aws_lc_", "AWS_LC", "aws_lc")):
        return "aws-lc-sys (C, prefixed)"
    if name.startswith("ring_core_"):
        return "ring (C/asm)"
    if name.startswith("_ZN") or name.startswith("_R"):
        return "[unmangled rust]"
    # What is left is C and assembly without a crate prefix: in these binaries mostly ring's
    # (the P-256 precomputed table, Ed25519/X25519 field arithmetic, bignum assembly).
    return "[C/asm, unprefixed: mostly ring]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nm_output")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    sizes = collections.Counter()
    total = 0
    with open(args.nm_output, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 3)
            if len(parts) != 4:
                continue
            _addr, size, kind, name = parts
            if kind not in "tTrRdDbBwWvV":
                continue
            if kind in "bB":  # zero-initialized: no bytes in the file
                continue
            n = int(size, 16)
            sizes[crate_of(name)] += n
            total += n
    print(f"{'crate':<36} {'KiB':>9} {'share':>7}")
    for crate, n in sizes.most_common(args.top):
        print(f"{crate:<36} {n / 1024:>9.1f} {n / total:>7.1%}")
    rest = sum(n for _, n in sizes.most_common()[args.top:])
    print(f"{'(others)':<36} {rest / 1024:>9.1f} {rest / total:>7.1%}")
    print(f"{'total (named symbols)':<36} {total / 1024:>9.1f}")


if __name__ == "__main__":
    main()
