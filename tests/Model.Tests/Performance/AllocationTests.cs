using Qwen3Gen.Definitions;
using Qwen3Gen.Profiling;
using Qwen3Gen.Threading;
using Xunit;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests.Performance;

/// <summary>
/// The hot path allocates nothing per step once warm (GC counters of the calling thread; one thread, so every job runs
/// here). A step that allocates does so in every window, so each test takes the smallest of a few measured windows: a
/// one-off allocation of the runtime inside one window (tiered JIT promoting a method mid-measurement, seen on a loaded
/// machine) does not fail it, a per-step allocation still does.
/// </summary>
[Collection("Workers")]
public class AllocationTests
{
    [Fact]
    public void TrainingStep_AllocatesNothing_AfterWarmUp()
    {
        int saved = Workers.Threads;
        try
        {
            Workers.Threads = 1;
            using var model = Qwen3Tiny.Create();
            WeightInit.Normal(model, 1);
            using var work = new TrainingStepWorkload(model, batch: 2, seqLen: 16);
            Assert.Equal(0, Smallest(() => work.Measure(repetitions: 3, warmup: 2).AllocatedBytesPerCall));
        }
        finally { Workers.Threads = saved; }
    }

    [Fact]
    public void PrefillAndDecode_AllocateNothing_AfterWarmUp()
    {
        int saved = Workers.Threads;
        try
        {
            Workers.Threads = 1;
            using var model = Qwen3Tiny.Create();
            WeightInit.Normal(model, 1);
            using var work = new DecodeWorkload(model, promptLength: 20, decodeTokens: 5);
            Assert.Equal(0, Smallest(() => work.MeasurePrefill(repetitions: 3).AllocatedBytesPerCall));
            Assert.Equal(0, Smallest(() => work.MeasureDecode(repetitions: 3).AllocatedBytesPerCall));
        }
        finally { Workers.Threads = saved; }
    }

    /// <summary>Forward and backward with LoRA adapters on a frozen BF16 base (the adapters' scratch is allocated once, in the warm-up).</summary>
    [Fact]
    public void LoraForwardBackward_AllocatesNothing_AfterWarmUp()
    {
        int saved = Workers.Threads;
        try
        {
            Workers.Threads = 1;
            using var model = Qwen3Tiny.Create(WeightFormat.BF16);
            WeightInit.Normal(model, 1);
            using var lora = Qwen3Gen.Training.Lora.LoraAdapter.Create(model, new Qwen3Gen.Training.Lora.LoraConfig { Rank = 4, Alpha = 8 }, seed: 2);
            model.Adapters = lora;
            const int batch = 2, seqLen = 16;
            var ids = Enumerable.Range(0, batch * seqLen).Select(i => i * 7 % model.Config.Vocab).ToArray();
            var targets = CausalLm.ShiftedTargets(ids, batch, seqLen);
            void Step()
            {
                lora.ZeroGradients();
                model.Forward(ids, targets, batch, seqLen);
                model.Backward();
            }
            for (int i = 0; i < 2; i++) Step();
            Assert.Equal(0, Smallest(() =>
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 3; i++) Step();
                return (GC.GetAllocatedBytesForCurrentThread() - before) / 3;
            }));
        }
        finally { Workers.Threads = saved; }
    }

    private static long Smallest(Func<long> allocatedBytesPerCall)
    {
        long smallest = long.MaxValue;
        for (int window = 0; window < 3 && smallest > 0; window++) smallest = Math.Min(smallest, allocatedBytesPerCall());
        return smallest;
    }
}
