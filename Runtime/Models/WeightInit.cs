using System.Buffers;

namespace Qwen3Gen.Models;

/// <summary>
/// Random weights, for tests, benchmarks and training from scratch. <see cref="Normal"/> is Hugging Face's
/// <c>Qwen3PreTrainedModel._init_weights</c>: every Linear and the Embedding ~ N(0, initializer_range = 0.02), every
/// RMSNorm weight = 1. (Writing a model as a Hub-style folder is Inference's: <c>SnapshotWriter.Save</c>.)
/// </summary>
public static class WeightInit
{
    private const int Chunk = 1 << 16; // values generated and written per Weights.Set call

    /// <summary>
    /// Fills every matrix of <paramref name="model"/> with N(0, <paramref name="std"/>²) and every 1-D norm weight with 1.
    /// Deterministic: each tensor draws from its own SplitMix64 stream seeded by (<paramref name="seed"/>, tensor name),
    /// so a tensor's values depend only on the seed and its Hugging Face key, not on the layout, the weight format or
    /// the other tensors (an F32 and a BF16 model get the same values, the BF16 ones rounded).
    /// </summary>
    public static void Normal(IQwen3Model model, ulong seed, float std = 0.02f)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!(std >= 0) || float.IsInfinity(std)) throw new ArgumentOutOfRangeException(nameof(std), std, "std must be a finite number ≥ 0.");
        float[] buffer = ArrayPool<float>.Shared.Rent(Chunk);
        try
        {
            foreach (var tensor in model.Tensors)
            {
                var rng = new NormalStream(Mix(seed, tensor.Name));
                for (long done = 0; done < tensor.Length; done += Chunk)
                {
                    int n = (int)Math.Min(Chunk, tensor.Length - done);
                    var values = buffer.AsSpan(0, n);
                    if (tensor.IsMatrix)
                        for (int i = 0; i < n; i++) values[i] = std * rng.Next();
                    else values.Fill(1f);
                    // A chunk of a tensor is a tensor at a later offset: Set rounds to BF16 where the weights are BF16.
                    model.Weights.Set(new TensorSpec(tensor.Name, [n], tensor.Offset + done), values);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// One whole tensor's values as <see cref="Normal"/> gives them (its own stream, from its first element): for a
    /// process that keeps only part of it (a tensor-parallel rank's slice).
    /// </summary>
    public static void NormalTensor(string name, bool isMatrix, Span<float> values, ulong seed, float std = 0.02f)
    {
        if (!(std >= 0) || float.IsInfinity(std)) throw new ArgumentOutOfRangeException(nameof(std), std, "std must be a finite number ≥ 0.");
        if (!isMatrix)
        {
            values.Fill(1f);
            return;
        }
        var rng = new NormalStream(Mix(seed, name));
        for (int i = 0; i < values.Length; i++) values[i] = std * rng.Next();
    }

    /// <summary>SplitMix64 of the seed xor the FNV-1a hash of the tensor name: one independent stream per tensor.</summary>
    private static ulong Mix(ulong seed, string name)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in name) h = (h ^ c) * 1099511628211UL;
        ulong state = seed ^ h;
        return SplitMix64.Next(ref state);
    }
}

/// <summary>SplitMix64 (Steele, Lea, Flood 2014): a 64-bit state advanced by the golden-ratio constant, then mixed.</summary>
internal static class SplitMix64
{
    public static ulong Next(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A uniform double in (0, 1]: the top 53 bits, shifted up by one ulp so log() never sees 0.</summary>
    public static double NextUnit(ref ulong state) => ((Next(ref state) >> 11) + 1) * (1.0 / (1UL << 53));
}

/// <summary>
/// Standard normal samples by Box-Muller: for u1, u2 uniform in (0, 1], r = sqrt(-2 ln u1), θ = 2π u2 gives two
/// independent N(0, 1) values r cos θ and r sin θ; the second is kept for the next call. Computed in double.
/// </summary>
internal struct NormalStream(ulong state)
{
    private ulong _state = state;
    private double _spare;
    private bool _hasSpare;

    public float Next()
    {
        if (_hasSpare)
        {
            _hasSpare = false;
            return (float)_spare;
        }
        double u1 = SplitMix64.NextUnit(ref _state), u2 = SplitMix64.NextUnit(ref _state);
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        var (sin, cos) = Math.SinCos(2.0 * Math.PI * u2);
        _spare = r * sin;
        _hasSpare = true;
        return (float)(r * cos);
    }
}
