namespace Qwen3Gen.Distributed;

/// <summary>One process, rank 0 of 1: every collective leaves the data as it is (a sum over one rank is the value itself).</summary>
public sealed unsafe class SingleProcessCommunicator : ICommunicator
{
    public static readonly SingleProcessCommunicator Instance = new();

    public int Rank => 0;

    public int Size => 1;

    public string Description => "single process";

    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(5);

    public CommRequest StartAllReduceSum(float* data, long count) => default;

    /// <summary>One rank: its only block is already where it belongs when send and receive are the same; otherwise copied.</summary>
    public CommRequest StartAllToAll(float* send, int* sendCounts, int* sendOffsets, float* receive, int* receiveCounts, int* receiveOffsets)
    {
        if (sendCounts[0] != receiveCounts[0]) throw new ArgumentException($"All-to-all of {sendCounts[0]} floats into {receiveCounts[0]}.");
        Buffer.MemoryCopy(send + sendOffsets[0], receive + receiveOffsets[0], receiveCounts[0] * 4L, sendCounts[0] * 4L);
        return default;
    }

    public CommRequest StartAllGather(float* data, int* counts, int* offsets) => default;

    public void Progress() { }

    public void Wait(CommRequest request, string what) { }

    public void AllReduceSum(float* data, long count) { }

    public void AllReduceSum(Span<double> values) { }

    public void Broadcast(void* data, long bytes, int root) => CheckRoot(root);

    public void Barrier() { }

    public void AllGather(float* data, ReadOnlySpan<long> counts) => CheckCounts(counts);

    public void Gather(float* data, ReadOnlySpan<long> counts, int root)
    {
        CheckRoot(root);
        CheckCounts(counts);
    }

    /// <summary>One rank splits into itself: a group of one, whatever the color.</summary>
    public ICommunicator Split(int color, int key)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(color);
        return this;
    }

    public void Abort(int exitCode) => Environment.Exit(exitCode);

    public void Dispose() { }

    private static void CheckRoot(int root)
    {
        if (root != 0) throw new ArgumentOutOfRangeException(nameof(root), root, "A single process has only rank 0.");
    }

    private static void CheckCounts(ReadOnlySpan<long> counts)
    {
        if (counts.Length != 1) throw new ArgumentException($"{counts.Length} block counts for 1 rank.", nameof(counts));
    }
}
