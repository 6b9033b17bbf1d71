using BenchmarkDotNet.Attributes;
using Qwen3Gen.Definitions;
using Qwen3Gen.Profiling;
using Qwen3Gen.Threading;
using Qwen3Gen.Models;

namespace Qwen3Gen.Benchmarks;

/// <summary>
/// KV-cached inference of the Qwen3-0.6B shape (random weights): a 128-token prefill into an empty cache, and
/// 16 greedy decode steps after it (divide by 16 for one token), F32 and BF16 weights, 1 and 2 threads.
/// dotnet run -c Release --project tests/Benchmarks -- --filter '*DecodeBenchmarks*'
/// </summary>
[MemoryDiagnoser]
public class DecodeBenchmarks
{
    public const int DecodeTokens = 16;

    [Params(WeightFormat.F32, WeightFormat.BF16)]
    public WeightFormat Format { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    private IQwen3Model? _model;
    private DecodeWorkload? _work;
    private int _first;

    [GlobalSetup]
    public void Setup()
    {
        _model = Qwen3_0_6B.Create(Format);
        Workers.Threads = Environment.ProcessorCount;
        WeightInit.Normal(_model, 1);
        Workers.Threads = Threads;
        _work = new DecodeWorkload(_model, promptLength: 128, decodeTokens: DecodeTokens);
        _first = _work.Prefill();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _work?.Dispose();
        _model?.Dispose();
    }

    [Benchmark]
    public int Prefill128() => _work!.Prefill();

    /// <summary>16 decode steps after the 128-token prompt (in the cache since Setup; Decode rewinds to its end each time).</summary>
    [Benchmark]
    public int Decode16() => _work!.Decode(_first);
}
