namespace Qwen3Gen.Distributed;

/// <summary>
/// The collective operations data-parallel training needs, over the ranks of one job (MPI's COMM_WORLD).
/// Every rank must start the same collectives in the same order (non-blocking ones included). Sums are element-wise;
/// for two ranks each element of an all-reduce is one IEEE addition a + b, which is commutative, so the result does
/// not depend on the library's algorithm (for N &gt; 2 see <see cref="GradientReducer"/>). Every wait is bounded by <see cref="Timeout"/>:
/// when a peer died or hangs, the waiting rank throws <see cref="CommunicationTimeoutException"/> instead of
/// blocking forever, and the caller ends the job with <see cref="Abort"/>.
/// </summary>
public unsafe interface ICommunicator : IDisposable
{
    /// <summary>This process's index, 0 … Size − 1.</summary>
    int Rank { get; }

    /// <summary>Number of processes in the job.</summary>
    int Size { get; }

    /// <summary>The library and its version, for logs ("single process", "Open MPI v4.1.4").</summary>
    string Description { get; }

    /// <summary>Longest wait for one collective before it counts as a failure of a peer.</summary>
    TimeSpan Timeout { get; set; }

    /// <summary>Starts an in-place sum of <paramref name="count"/> floats over all ranks (MPI_Iallreduce); finish it with <see cref="Wait"/>.</summary>
    CommRequest StartAllReduceSum(float* data, long count);

    /// <summary>
    /// Starts an all-to-all exchange of float blocks (MPI_Ialltoallv): block j of <paramref name="send"/>
    /// (<paramref name="sendCounts"/>[j] floats at <paramref name="sendOffsets"/>[j]) goes to rank j, and rank j's block
    /// for this rank lands at <paramref name="receiveOffsets"/>[j] of <paramref name="receive"/>. The count and offset
    /// arrays must stay valid and unmoved (native memory) until the request completes.
    /// </summary>
    CommRequest StartAllToAll(float* send, int* sendCounts, int* sendOffsets, float* receive, int* receiveCounts, int* receiveOffsets);

    /// <summary>Starts an in-place all-gather of blocks (MPI_Iallgatherv): rank r's <paramref name="counts"/>[r] floats at <paramref name="offsets"/>[r]; arrays as for <see cref="StartAllToAll"/>.</summary>
    CommRequest StartAllGather(float* data, int* counts, int* offsets);

    /// <summary>Lets pending non-blocking operations advance (MPI progresses them only inside MPI calls).</summary>
    void Progress();

    /// <summary>Blocks until <paramref name="request"/> completes; <paramref name="what"/> names it in a timeout error.</summary>
    void Wait(CommRequest request, string what);

    /// <summary>In-place sum over all ranks, blocking.</summary>
    void AllReduceSum(float* data, long count);

    /// <summary>In-place sum of a few doubles (losses, counts, flags) over all ranks, blocking.</summary>
    void AllReduceSum(Span<double> values);

    /// <summary>Copies <paramref name="bytes"/> bytes at <paramref name="data"/> from rank <paramref name="root"/> to every rank.</summary>
    void Broadcast(void* data, long bytes, int root);

    /// <summary>Returns when every rank has called it.</summary>
    void Barrier();

    /// <summary>
    /// In-place all-gather of consecutive blocks: rank r owns <paramref name="counts"/>[r] floats starting at
    /// Σ counts[&lt; r]; afterwards every rank holds every block (ZeRO-1's parameter gather).
    /// </summary>
    void AllGather(float* data, ReadOnlySpan<long> counts);

    /// <summary>As <see cref="AllGather"/>, but only rank <paramref name="root"/> receives the blocks (a sharded state for a checkpoint).</summary>
    void Gather(float* data, ReadOnlySpan<long> counts, int root);

    /// <summary>
    /// Splits the ranks into sub-communicators (MPI_Comm_split), a collective over this communicator: the ranks that pass
    /// the same <paramref name="color"/> (≥ 0) form one, ranked by <paramref name="key"/> (ties: by rank here). Every rank
    /// gets the communicator of its own color; it shares this one's timeout at creation and is disposed by the caller.
    /// Tensor × data parallelism: the ranks of one tensor-parallel group share rank / tp, those of one data-parallel
    /// group rank % tp (<see cref="TensorParallel.ParallelGroups"/>).
    /// </summary>
    ICommunicator Split(int color, int key);

    /// <summary>Ends every rank of the job at once with <paramref name="exitCode"/> (MPI_Abort); does not return.</summary>
    void Abort(int exitCode);
}
