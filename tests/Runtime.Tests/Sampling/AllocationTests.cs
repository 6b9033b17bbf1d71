using Qwen3Gen.Distributed;
using Qwen3Gen.Kernels;
using Qwen3Gen.Optim;
using Qwen3Gen.Sampling;
using Qwen3Gen.Threading;
using Qwen3Gen.Training;
using Qwen3Gen.Runtime.Tests.Optim;
using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Runtime.Tests.Sampling;

/// <summary>The per-token and per-step paths allocate nothing on the managed heap (after a warm-up call).</summary>
[Collection(WorkersThreadsCollection.Name)]
public sealed class AllocationTests(ITestOutputHelper output)
{
    private struct NopJob : IParallelJob
    {
        public void Execute(int start, int end) { }
    }

    /// <summary>
    /// Bytes allocated by 10 calls, the least over several rounds: the first rounds can see the runtime's own
    /// one-off allocations (tiered re-compilation), a real per-call allocation shows in every round.
    /// </summary>
    private static long Allocated(Action action)
    {
        long least = long.MaxValue;
        for (int round = 0; round < 20 && least > 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++) action();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return least;
    }

    [Fact]
    public void SamplerSample_AllocatesNothing()
    {
        var r = new Random(1);
        var logits = new float[151_936];
        for (int i = 0; i < logits.Length; i++) logits[i] = (float)r.NextDouble();
        foreach (var options in new[] { SamplingOptions.QwenThinking, SamplingOptions.Greedy, new SamplingOptions { TopP = 0.9f, MinP = 0.05f, RepetitionPenalty = 1.1f } })
        {
            var sampler = new Sampler(logits.Length, options);
            sampler.AddContext([1, 2, 3]);
            Assert.Equal(0, Allocated(() => sampler.Sample(logits)));
        }
    }

    [Fact]
    public void ShardedSamplerSample_AllocatesNothing()
    {
        // One rank over the single-process communicator runs every path of the sampler (the thread group's all-reduce
        // allocates its own sum buffer, which would hide the sampler's).
        var r = new Random(1);
        var logits = new float[151_936];
        for (int i = 0; i < logits.Length; i++) logits[i] = (float)r.NextDouble();
        foreach (var options in new[] { SamplingOptions.QwenThinking, SamplingOptions.Greedy, new SamplingOptions { TopP = 0.9f, MinP = 0.05f, RepetitionPenalty = 1.1f },
                                        new SamplingOptions { MinP = 0.05f }, new SamplingOptions { Temperature = 0.8f } })
        {
            var sampler = new ShardedSampler(SingleProcessCommunicator.Instance, logits.Length, 0, logits.Length, options);
            sampler.AddContext([1, 2, 3]);
            Assert.Equal(0, Allocated(() => sampler.Sample(logits)));
        }
    }

    [Fact]
    public void TrainingStepPieces_AllocateNothing()
    {
        var sampler = new WindowSampler(Enumerable.Range(0, 1000).ToArray(), 4, 16, 1);
        var x = new int[64]; var y = new int[64];
        Assert.Equal(0, Allocated(() => sampler.Next(x, y)));

        var schedule = new LearningRateSchedule(1e-3, 1e-4, 10, 100);
        Assert.Equal(0, Allocated(() => schedule.At(50)));

        // The optimizer's allocations can only be seen if the thread pool's own dispatch allocates nothing
        // (the Parallel.For-based Workers allocates a closure per call; the persistent pool does not).
        if (Allocated(() => Workers.For(4, new NopJob())) > 0)
        {
            output.WriteLine("Workers.For allocates per call: the AdamW / clipping allocation checks are not meaningful here.");
            return;
        }
        int saved = Workers.Threads;
        try
        {
            Workers.Threads = 1;
            using var adamw = new AdamW([new TensorSpec("w", [100, 100], 0), new TensorSpec("b", [100], 10_000)]);
            using var p = new NativeBuffer<float>(adamw.Count);
            using var g = new NativeBuffer<float>(adamw.Count);
            Assert.Equal(0, Allocated(() => adamw.Step(p, g)));
            Assert.Equal(0, Allocated(() => GradientClipping.ClipGlobalNorm(g, 1.0)));
        }
        finally { Workers.Threads = saved; }
    }
}
