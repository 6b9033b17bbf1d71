using Qwen3Gen.Distributed;

namespace Qwen3Gen.Runtime.Tests.Distributed;

/// <summary>The in-process rank group: every collective against values written out by hand.</summary>
public unsafe class ThreadGroupTests
{
    [Fact]
    public void AllReduceSum_GivesEveryRankTheSum()
    {
        var results = ThreadGroup.Run(3, comm =>
        {
            float[] x = [comm.Rank + 1f, 10f * (comm.Rank + 1)];
            fixed (float* p = x) comm.AllReduceSum(p, 2);
            Span<double> d = [comm.Rank, 0.5];
            comm.AllReduceSum(d);
            return (x, d.ToArray());
        });
        foreach (var (x, d) in results)
        {
            Assert.Equal([6f, 60f], x);
            Assert.Equal([3.0, 1.5], d);
        }
    }

    [Fact]
    public void AllGather_Broadcast_AllToAll_MoveTheRightBlocks()
    {
        var results = ThreadGroup.Run(2, comm =>
        {
            int r = comm.Rank;
            float[] blocks = r == 0 ? [1, 2, 0] : [0, 0, 3];          // rank 0 owns 2 floats, rank 1 one
            fixed (float* p = blocks) comm.AllGather(p, [2, 1]);
            long word = r == 1 ? 42 : 0;
            comm.Broadcast(&word, 8, root: 1);
            float[] send = [10 * r, 10 * r + 1], receive = new float[2];
            int[] counts = [1, 1], offsets = [0, 1];
            fixed (float* s = send, q = receive)
            fixed (int* c = counts, o = offsets)
                comm.StartAllToAll(s, c, o, q, c, o);
            return (blocks, word, receive);
        });
        Assert.Equal([1f, 2f, 3f], results[0].blocks);
        Assert.Equal([1f, 2f, 3f], results[1].blocks);
        Assert.All(results, x => Assert.Equal(42, x.word));
        Assert.Equal([0f, 10f], results[0].receive);                  // block 0 of each rank
        Assert.Equal([1f, 11f], results[1].receive);                  // block 1 of each rank
    }

    [Fact]
    public void AFailingRank_StopsTheOthers_InsteadOfHangingThem()
    {
        var error = Assert.Throws<AggregateException>(() => ThreadGroup.Run(2, comm =>
        {
            if (comm.Rank == 1) throw new InvalidOperationException("rank 1 lost");
            comm.Barrier();
            return 0;
        }, TimeSpan.FromSeconds(30)));
        Assert.IsType<InvalidOperationException>(error.InnerException);
    }

    [Fact]
    public void Split_FormsAGroupPerColor_RankedByKey()
    {
        var results = ThreadGroup.Run(4, comm =>
        {
            using var sub = comm.Split(comm.Rank % 2, -comm.Rank);    // colors {0, 2} and {1, 3}, each in reverse rank order
            float[] x = [comm.Rank + 1f];
            fixed (float* p = x) sub.AllReduceSum(p, 1);
            return (sub.Rank, sub.Size, sum: x[0]);
        });
        Assert.Equal([(1, 2, 4f), (1, 2, 6f), (0, 2, 4f), (0, 2, 6f)], results);   // 1 + 3 and 2 + 4; key −2 ranks before key 0
    }

    [Fact]
    public void AFailingRank_StopsPeersWaitingInASubGroup()
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var error = Assert.Throws<AggregateException>(() => ThreadGroup.Run(4, comm =>
        {
            using var pair = comm.Split(comm.Rank / 2, comm.Rank);
            if (comm.Rank == 3) throw new InvalidOperationException("rank 3 lost");
            pair.Barrier();                                           // rank 2 waits for rank 3 here
            comm.Barrier();
            return 0;
        }, TimeSpan.FromSeconds(60)));
        Assert.IsType<InvalidOperationException>(error.InnerException);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"the ranks waited {watch.Elapsed.TotalSeconds:0.#} s: the break did not reach the sub-group");
    }
}
