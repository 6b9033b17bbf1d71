using Qwen3Gen.Kernels;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Runtime.Tests.Kernels;

[Collection(WorkersCollection.Name)]
public unsafe class WorkersTests
{
    private struct CountJob : IParallelJob
    {
        public int* Hits;
        public void Execute(int start, int end)
        {
            for (int i = start; i < end; i++) Interlocked.Increment(ref Hits[i]);
        }
    }

    /// <summary>Starts a job from inside a job: must run inline (no deadlock, every inner index once).</summary>
    private struct NestedJob : IParallelJob
    {
        public int* Hits; public int Inner;
        public void Execute(int start, int end)
        {
            for (int i = start; i < end; i++)
                Workers.For(Inner, new CountJob { Hits = Hits + (long)i * Inner });
        }
    }

    private struct ThrowJob : IParallelJob
    {
        public void Execute(int start, int end)
        {
            if (start <= 50 && 50 < end) throw new InvalidOperationException("index 50");
        }
    }

    [Theory]
    [InlineData(1, 1000, 128)]
    [InlineData(2, 1000, 128)]       // 8 chunks of 125 rows (16 Ki floats each at least: 128 rows)
    [InlineData(2, 7, 1)]            // tiny rows: one inline chunk
    [InlineData(3, 4099, 4096)]
    [InlineData(2, 0, 64)]
    public void ForRows_RunsEveryRowExactlyOnce(int threads, int rows, long rowCost)
    {
        int saved = Workers.Threads;
        Workers.Threads = threads;
        using var hits = new NativeBuffer<int>(Math.Max(1, rows));
        try
        {
            for (int round = 0; round < 20; round++)
            {
                hits.Clear();
                Workers.ForRows(rows, rowCost, new CountJob { Hits = hits.Pointer });
                for (int i = 0; i < rows; i++)
                    Assert.True(hits.Pointer[i] == 1, $"row {i} ran {hits.Pointer[i]} times (round {round})");
            }
        }
        finally { Workers.Threads = saved; }
    }

    [Theory]
    [InlineData(1, 1000, 0)]
    [InlineData(2, 1000, 0)]
    [InlineData(3, 1, 0)]
    [InlineData(4, 1003, 7)]
    [InlineData(2, 0, 0)]
    [InlineData(2, 5, 1)]
    public void For_RunsEveryIndexExactlyOnce(int threads, int count, int grain)
    {
        int saved = Workers.Threads;
        Workers.Threads = threads;
        using var hits = new NativeBuffer<int>(Math.Max(1, count));
        try
        {
            for (int round = 0; round < 50; round++)
            {
                hits.Clear();
                if (grain == 0) Workers.For(count, new CountJob { Hits = hits.Pointer });
                else Workers.For(count, new CountJob { Hits = hits.Pointer }, grain);
                for (int i = 0; i < count; i++)
                    Assert.True(hits.Pointer[i] == 1, $"index {i} ran {hits.Pointer[i]} times (round {round})");
            }
        }
        finally { Workers.Threads = saved; }
    }

    [Fact]
    public void For_NestedJob_RunsInline()
    {
        int saved = Workers.Threads;
        Workers.Threads = 2;
        using var hits = new NativeBuffer<int>(64 * 37);
        try
        {
            Workers.For(64, new NestedJob { Hits = hits.Pointer, Inner = 37 }, 1);
            for (int i = 0; i < 64 * 37; i++) Assert.Equal(1, hits.Pointer[i]);
        }
        finally { Workers.Threads = saved; }
    }

    [Fact]
    public void For_JobThrows_ExceptionReachesCaller_PoolStillWorks()
    {
        int saved = Workers.Threads;
        Workers.Threads = 2;
        try
        {
            // Index 50 runs on the caller or on a worker, depending on timing: repeat to see both.
            for (int round = 0; round < 50; round++)
            {
                var e = Record.Exception(() => Workers.For(100, new ThrowJob(), 1));
                Assert.IsType<InvalidOperationException>(e);
                Assert.Contains("index 50", e.Message);
                For_RunsEveryIndexExactlyOnce(2, 500, 3);
            }
        }
        finally { Workers.Threads = saved; }
    }

    [Fact]
    public void Threads_BelowOne_Throws()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Workers.Threads = 0);
        Assert.Contains("at least 1", e.Message);
    }

    /// <summary>After warm-up, kernels and the pool allocate nothing on the calling thread (no boxing, closures or tasks).</summary>
    [Fact]
    public void MatMulAndWorkers_AfterWarmUp_AllocateNothing()
    {
        int saved = Workers.Threads;
        Workers.Threads = 2;
        using var t = new Matrices(70, 96, 200, seed: 9);
        using var hits = new NativeBuffer<int>(1000);
        try
        {
            void Step()
            {
                MatMul.Forward(t.Y.Pointer, t.X.Pointer, t.W.Pointer, 70, 96, 200);
                MatMul.Forward(t.Y.Pointer, t.X.Pointer, t.WB.Pointer, 1, 96, 200);
                MatMul.BackwardInput(t.DX.Pointer, t.DY.Pointer, t.W.Pointer, 70, 96, 200);
                MatMul.BackwardWeight(t.DW.Pointer, t.DY.Pointer, t.X.Pointer, 70, 96, 200);
                Workers.For(1000, new CountJob { Hits = hits.Pointer });
                RowOps.Dot(t.X.Pointer, t.W.Pointer, 96);
                RowOps.LogSumExp(t.X.Pointer, 96);
            }
            for (int i = 0; i < 5; i++) Step();
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++) Step();
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        finally { Workers.Threads = saved; }
    }
}
