using Qwen3Gen.Definitions;
using Qwen3Gen.Diagnostics;
using Qwen3Gen.Threading;
using Xunit;

namespace Qwen3Gen.Model.Tests.Performance;

/// <summary>The hot path allocates nothing per step once warm (GC counters of the calling thread; one thread, so every job runs here).</summary>
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
            var timing = work.Measure(repetitions: 3, warmup: 2);
            Assert.Equal(0, timing.AllocatedBytesPerCall);
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
            Assert.Equal(0, work.MeasurePrefill(repetitions: 3).AllocatedBytesPerCall);
            Assert.Equal(0, work.MeasureDecode(repetitions: 3).AllocatedBytesPerCall);
        }
        finally { Workers.Threads = saved; }
    }
}
