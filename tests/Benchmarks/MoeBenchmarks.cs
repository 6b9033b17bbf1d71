using BenchmarkDotNet.Attributes;
using Qwen3Gen.Definitions;
using Qwen3Gen.Threading;
using Qwen3Gen.Models;

namespace Qwen3Gen.Benchmarks;

/// <summary>
/// MoE forward against a dense model with the same active parameters (MoeModels.cs), inference buffers,
/// F32 weights, B × T = 4 × 128 = 512 rows. tokens/s = 512 / mean seconds.
/// dotnet run -c Release --project tests/Benchmarks -- --filter '*MoeBenchmarks*'
/// (a quicker interleaved measurement: dotnet run -c Release --project tests/Benchmarks -- moe-quick)
/// </summary>
[MemoryDiagnoser]
public class MoeBenchmarks
{
    public const int Batch = 4, SeqLen = 128;

    [Params("Shakespeare (H128, 8x128 top-2)", "Mid (H512, 32x256 top-4)")]
    public string Pair { get; set; } = "";

    [Params(1, 2)]
    public int Threads { get; set; }

    IQwen3Model _moe = null!, _dense = null!;
    int[] _ids = null!;

    [GlobalSetup]
    public void Setup()
    {
        Workers.Threads = Threads;
        (_moe, _dense) = Create(Pair.StartsWith("Mid") ? "mid" : "shakespeare");
        _ids = Inputs(_moe.Config.Vocab);
    }

    [GlobalCleanup]
    public void Cleanup() { _moe.Dispose(); _dense.Dispose(); }

    [Benchmark(Baseline = true, Description = "Dense twin forward, 512 rows")]
    public float Dense() => _dense.Forward(_ids, [], Batch, SeqLen);

    [Benchmark(Description = "MoE forward, 512 rows")]
    public float Moe() => _moe.Forward(_ids, [], Batch, SeqLen);

    /// <summary>The pair, with N(0, 0.02) weights (seeded; routing then spreads tokens over the experts).</summary>
    public static (IQwen3Model Moe, IQwen3Model Dense) Create(string pair)
    {
        IQwen3Model moe = pair == "mid" ? MidMoe.Create() : Qwen3ShakespeareMoe.Create();
        IQwen3Model dense = pair == "mid" ? MidDenseTwin.Create() : ShakespeareDenseTwin.Create();
        WeightInit.Normal(moe, seed: 1);
        WeightInit.Normal(dense, seed: 1);
        moe.Reserve(Batch, SeqLen, training: false);
        dense.Reserve(Batch, SeqLen, training: false);
        return (moe, dense);
    }

    public static int[] Inputs(int vocab)
    {
        var rng = new Random(5);
        return Enumerable.Range(0, Batch * SeqLen).Select(_ => rng.Next(vocab)).ToArray();
    }
}
