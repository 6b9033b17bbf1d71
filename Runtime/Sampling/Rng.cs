using System.Numerics;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sampling;

/// <summary>The complete state of an <see cref="Rng"/>: four 64-bit words (never all zero).</summary>
public readonly record struct RngState(ulong S0, ulong S1, ulong S2, ulong S3)
{
    /// <summary>The state as four int64 values (bit patterns), e.g. for an I64 checkpoint tensor.</summary>
    public void CopyTo(Span<long> destination)
    {
        if (destination.Length < 4) throw new ArgumentException($"An RNG state needs 4 values, the destination has {destination.Length}.", nameof(destination));
        destination[0] = (long)S0; destination[1] = (long)S1; destination[2] = (long)S2; destination[3] = (long)S3;
    }

    /// <summary>Reads a state written by <see cref="CopyTo"/>.</summary>
    public static RngState From(ReadOnlySpan<long> source)
    {
        if (source.Length != 4) throw new ArgumentException($"An RNG state is 4 values, got {source.Length}.", nameof(source));
        return new RngState((ulong)source[0], (ulong)source[1], (ulong)source[2], (ulong)source[3]);
    }
}

/// <summary>
/// xoshiro256** (Blackman and Vigna, 2018), seeded by SplitMix64: a small, fast generator whose
/// algorithm is a published contract, so a seed means the same stream on every .NET version
/// (System.Random's algorithm is an implementation detail). Its whole state is four words
/// (<see cref="State"/>), which is what a checkpoint saves for an exact resume. Not thread-safe.
/// </summary>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>Seeds the four state words with four consecutive SplitMix64 outputs of <paramref name="seed"/> (the authors' recommendation).</summary>
    public Rng(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x); // SplitMix64 is a bijection of a counter: four outputs are never all zero
    }

    public Rng(RngState state) => State = state;

    /// <summary>The generator's state; setting it resumes the stream exactly where it was read.</summary>
    public RngState State
    {
        get => new(_s0, _s1, _s2, _s3);
        set
        {
            if ((value.S0 | value.S1 | value.S2 | value.S3) == 0)
                throw new ArgumentException("An all-zero xoshiro256** state is invalid (the generator would output zeros forever).", nameof(value));
            (_s0, _s1, _s2, _s3) = (value.S0, value.S1, value.S2, value.S3);
        }
    }

    /// <summary>SplitMix64 (Steele, Lea, Flood 2014): x += golden gamma, then two xor-shift-multiply rounds.</summary>
    public static ulong SplitMix64(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Next 64 random bits: result = rotl(s1 * 5, 7) * 9, then the linear xoshiro state update.</summary>
    public ulong NextUInt64()
    {
        ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = BitOperations.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Next 32 random bits (the upper half: the best bits of xoshiro256**).</summary>
    public uint NextUInt32() => (uint)(NextUInt64() >> 32);

    /// <summary>
    /// Uniform integer in [0, <paramref name="bound"/>) without modulo bias: Lemire's multiply-shift
    /// (x * bound) >> 32 with rejection of the 2^32 mod bound low products that would over-represent some values.
    /// </summary>
    public int NextInt(int bound)
    {
        if (bound <= 0) throw new ArgumentOutOfRangeException(nameof(bound), bound, "The bound must be positive.");
        uint b = (uint)bound;
        ulong m = (ulong)NextUInt32() * b;
        uint low = (uint)m;
        if (low < b)
        {
            uint threshold = (uint)(-(int)b) % b; // = 2^32 mod b
            while (low < threshold)
            {
                m = (ulong)NextUInt32() * b;
                low = (uint)m;
            }
        }
        return (int)(m >> 32);
    }

    /// <summary>Uniform double in [0, 1) on the 2^-53 grid (top 53 bits).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform float in [0, 1) on the 2^-24 grid (top 24 bits).</summary>
    public float NextSingle() => (NextUInt64() >> 40) * (1f / (1 << 24));
}
