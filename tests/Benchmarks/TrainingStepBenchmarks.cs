using BenchmarkDotNet.Attributes;
using Qwen3Gen.Definitions;
using Qwen3Gen.Profiling;
using Qwen3Gen.Threading;
using Qwen3Gen.Models;

namespace Qwen3Gen.Benchmarks;

/// <summary>
/// One whole training step (zero gradients, forward with loss, backward, clip, AdamW), as Trainer.TrainStep runs it:
/// the nanoGPT-size Qwen3Shakespeare (B12, T64) and the full-vocabulary Qwen3FullVocab (B4, T256), 1 and 2 threads.
/// The MemoryDiagnoser shows that a step allocates nothing.
/// dotnet run -c Release --project tests/Benchmarks -- --filter '*TrainingStepBenchmarks*'
/// </summary>
[MemoryDiagnoser]
public class TrainingStepBenchmarks
{
    [Params("Qwen3Shakespeare", "Qwen3FullVocab")]
    public string Model { get; set; } = "Qwen3Shakespeare";

    [Params(1, 2)]
    public int Threads { get; set; }

    private IQwen3Model? _model;
    private TrainingStepWorkload? _work;

    [GlobalSetup]
    public void Setup()
    {
        Workers.Threads = Threads;
        _model = Model == "Qwen3FullVocab" ? Qwen3FullVocab.Create() : Qwen3Shakespeare.Create();
        WeightInit.Normal(_model, 1);
        _work = Model == "Qwen3FullVocab" ? new TrainingStepWorkload(_model, 4, 256) : new TrainingStepWorkload(_model, 12, 64);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _work?.Dispose();
        _model?.Dispose();
    }

    [Benchmark]
    public float Step() => _work!.Step();
}
