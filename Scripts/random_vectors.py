#!/usr/bin/env python3
"""Known-answer vectors for Touchstone's random number generators (Sources/Tensors/Random.swift).

An independent implementation of SplitMix64 (Steele, Lea, Flood 2014) and xoshiro256** 1.0
(Blackman and Vigna 2018, seeded by four SplitMix64 outputs), written from the published
reference C code, not from the Swift source. Prints the first outputs for seeds 0, 1 and 42 and
the derived uniform draws (top 24 bits * 2^-24 as Float32, top 53 bits * 2^-53 as Float64), in
the form hard-coded by Tests/TensorsTests/RandomKnownAnswerTests.swift.

Usage: python3 Scripts/random_vectors.py
"""

MASK = (1 << 64) - 1


def splitmix64(seed):
    state = seed & MASK
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        yield z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


def xoshiro256starstar(seed):
    sm = splitmix64(seed)
    s = [next(sm) for _ in range(4)]
    while True:
        result = (rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        yield result


def take(gen, n):
    return [next(gen) for _ in range(n)]


def main():
    count = 8
    for seed in (0, 1, 42):
        print(f"seed {seed}")
        print("  splitmix64:  " + ", ".join(f"0x{v:016X}" for v in take(splitmix64(seed), count)))
        print("  xoshiro256**: " + ", ".join(f"0x{v:016X}" for v in take(xoshiro256starstar(seed), count)))
        # Uniform draws: each consumes one xoshiro256** output. Both values are exact dyadic
        # rationals, printed as hexadecimal floating-point literals.
        floats = [float(v >> 40) / 2**24 for v in take(xoshiro256starstar(seed), 4)]
        doubles = [float(v >> 11) / 2**53 for v in take(xoshiro256starstar(seed), 4)]
        print("  uniformFloat:  " + ", ".join(f.hex() for f in floats))
        print("  uniformDouble: " + ", ".join(d.hex() for d in doubles))


if __name__ == "__main__":
    main()
