namespace Qwen3Gen.Distributed;

/// <summary>
/// N ranks as N threads of one process, with the collectives of <see cref="ICommunicator"/> done through shared memory:
/// the same programs that run under mpirun run here in one test process (tensor-parallel exactness tests, samplers),
/// without launching anything. Every collective is two barrier phases: each rank posts its buffer's address, all wait,
/// each rank reads the others' buffers into its own result (sums in rank order 0, 1, …, N − 1, as an MPI reduction
/// over 2 ranks would do it up to the commutativity of one addition), all wait again so that no rank changes a buffer
/// another is still reading. Non-blocking operations complete at their start (every rank starts the same collectives
/// in the same order, so this only synchronises earlier). A rank that waits longer than <see cref="ICommunicator.Timeout"/>
/// throws <see cref="CommunicationTimeoutException"/>; <see cref="ICommunicator.Abort"/> breaks the group for everyone.
/// <see cref="ICommunicator.Split"/> makes sub-groups (a thread group per color, over the same threads); breaking a group
/// breaks its sub-groups, and an abort anywhere breaks the whole tree, so no rank waits on a peer that has stopped.
/// </summary>
public sealed unsafe class ThreadGroup
{
    private readonly Barrier _barrier;
    private readonly nint[] _posted;          // per rank: the address it posted for the current collective
    private readonly nint[] _extra;           // per rank: a second address (counts / offsets arrays of the v-collectives)
    private readonly nint[] _extra2;
    private readonly int[] _colors, _keys;    // per rank: its arguments of the current Split
    private readonly ThreadGroup?[] _made;    // per rank: the sub-group it made as its color's first member
    private readonly List<ThreadGroup> _children = [];
    private readonly ThreadGroup? _parent;
    private volatile bool _aborted;
    private int _disposed;

    public ThreadGroup(int size) : this(size, null) { }

    private ThreadGroup(int size, ThreadGroup? parent)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        Size = size;
        _barrier = new Barrier(size);
        _posted = new nint[size];
        _extra = new nint[size];
        _extra2 = new nint[size];
        _colors = new int[size];
        _keys = new int[size];
        _made = new ThreadGroup?[size];
        _parent = parent;
        if (parent is not null) lock (parent._children) parent._children.Add(this);
        Ranks = Enumerable.Range(0, size).Select(r => (ICommunicator)new Member(this, r)).ToArray();
    }

    public int Size { get; }

    /// <summary>The communicator of each rank; rank r's must only be used by rank r's thread.</summary>
    public IReadOnlyList<ICommunicator> Ranks { get; }

    /// <summary>Runs <paramref name="body"/>(rank's communicator) on one thread per rank and returns each rank's result; rethrows the first failure.</summary>
    public static T[] Run<T>(int size, Func<ICommunicator, T> body, TimeSpan? timeout = null)
    {
        var group = new ThreadGroup(size);
        var results = new T[size];
        var errors = new Exception?[size];
        var threads = new Thread[size];
        for (int r = 0; r < size; r++)
        {
            int rank = r;
            var comm = group.Ranks[rank];
            if (timeout is { } t) comm.Timeout = t;
            threads[r] = new Thread(() =>
            {
                try { results[rank] = body(comm); }
                catch (Exception e) { errors[rank] = e; group.Break(); }
            }, 64 << 20) { IsBackground = true, Name = $"rank {rank}" };
            threads[r].Start();
        }
        foreach (var thread in threads) thread.Join();
        var first = errors.FirstOrDefault(e => e is not null and not GroupBrokenException) ?? errors.FirstOrDefault(e => e is not null);
        if (first is not null) throw new AggregateException($"Rank {Array.IndexOf(errors, first)} of {size} failed.", first);
        return results;
    }

    private void Break()
    {
        _aborted = true;
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _barrier.Dispose();   // wakes every waiter with ObjectDisposedException
        ThreadGroup[] children;
        lock (_children) children = [.. _children];
        foreach (var child in children) child.Break();
    }

    /// <summary>The group this one was split from, up to the one made by the constructor (whose break reaches every sub-group).</summary>
    private ThreadGroup Root => _parent is null ? this : _parent.Root;

    private void Sync(TimeSpan timeout, string what)
    {
        if (_aborted) throw new GroupBrokenException();
        try
        {
            if (!_barrier.SignalAndWait(timeout))
                throw new CommunicationTimeoutException($"{what}: waited {timeout.TotalSeconds:0.#} s for the other ranks of the thread group.");
        }
        catch (ObjectDisposedException) { throw new GroupBrokenException(); }
        catch (BarrierPostPhaseException) { throw new GroupBrokenException(); }
    }

    /// <summary>Another rank of the group failed or aborted; this rank stops too.</summary>
    public sealed class GroupBrokenException() : Exception("Another rank of the thread group failed.");

    private sealed class Member(ThreadGroup group, int rank) : ICommunicator
    {
        public int Rank => rank;
        public int Size => group.Size;
        public string Description => $"thread group of {group.Size}";
        public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(5);

        private void Post(void* a, void* b = null, void* c = null, string what = "collective")
        {
            group._posted[rank] = (nint)a; group._extra[rank] = (nint)b; group._extra2[rank] = (nint)c;
            group.Sync(Timeout, what);
        }

        private void Done(string what) => group.Sync(Timeout, what);

        public void AllReduceSum(float* data, long count)
        {
            Post(data, what: "all-reduce");
            var sum = new float[count];
            fixed (float* s = sum)
            {
                for (long i = 0; i < count; i++) s[i] = ((float*)group._posted[0])[i];
                for (int r = 1; r < group.Size; r++)
                {
                    float* other = (float*)group._posted[r];
                    for (long i = 0; i < count; i++) s[i] += other[i];
                }
                Done("all-reduce");
                Buffer.MemoryCopy(s, data, count * 4, count * 4);
            }
        }

        public void AllReduceSum(Span<double> values)
        {
            fixed (double* v = values)
            {
                Post(v, what: "all-reduce");
                var sum = new double[values.Length];
                for (int r = 0; r < group.Size; r++)
                    for (int i = 0; i < sum.Length; i++) sum[i] += ((double*)group._posted[r])[i];
                Done("all-reduce");
                sum.CopyTo(values);
            }
        }

        public CommRequest StartAllReduceSum(float* data, long count)
        {
            AllReduceSum(data, count);
            return default;
        }

        public CommRequest StartAllToAll(float* send, int* sendCounts, int* sendOffsets, float* receive, int* receiveCounts, int* receiveOffsets)
        {
            Post(send, sendCounts, sendOffsets, "all-to-all");
            for (int j = 0; j < group.Size; j++)
            {
                int n = ((int*)group._extra[j])[rank];
                if (n != receiveCounts[j]) throw new ArgumentException($"Rank {j} sends {n} floats to rank {rank}, which expects {receiveCounts[j]}.");
                float* from = (float*)group._posted[j] + ((int*)group._extra2[j])[rank];
                Buffer.MemoryCopy(from, receive + receiveOffsets[j], n * 4L, n * 4L);
            }
            Done("all-to-all");
            return default;
        }

        public CommRequest StartAllGather(float* data, int* counts, int* offsets)
        {
            Post(data, what: "all-gather");
            for (int j = 0; j < group.Size; j++)
                if (j != rank) Buffer.MemoryCopy((float*)group._posted[j] + offsets[j], data + offsets[j], counts[j] * 4L, counts[j] * 4L);
            Done("all-gather");
            return default;
        }

        public void Progress() { }

        public void Wait(CommRequest request, string what) { }

        public void Broadcast(void* data, long bytes, int root)
        {
            Post(data, what: "broadcast");
            if (rank != root) Buffer.MemoryCopy((void*)group._posted[root], data, bytes, bytes);
            Done("broadcast");
        }

        public void Barrier() => group.Sync(Timeout, "barrier");

        public void AllGather(float* data, ReadOnlySpan<long> counts) => Gather(data, counts, root: -1);

        public void Gather(float* data, ReadOnlySpan<long> counts, int root)
        {
            if (counts.Length != group.Size) throw new ArgumentException($"{counts.Length} block counts for {group.Size} ranks.", nameof(counts));
            Post(data, what: "gather");
            if (root < 0 || root == rank)
            {
                long offset = 0;
                for (int j = 0; j < group.Size; j++)
                {
                    if (j != rank) Buffer.MemoryCopy((float*)group._posted[j] + offset, data + offset, counts[j] * 4, counts[j] * 4);
                    offset += counts[j];
                }
            }
            Done("gather");
        }

        /// <summary>
        /// Two barrier phases over the parent group: every rank posts (color, key); the first member of each color (by key,
        /// then rank) makes that color's group; then each rank takes its place in its color's group.
        /// </summary>
        public ICommunicator Split(int color, int key)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(color);
            group._colors[rank] = color;
            group._keys[rank] = key;
            group.Sync(Timeout, "split");
            var members = Enumerable.Range(0, group.Size).Where(r => group._colors[r] == color)
                                    .OrderBy(r => group._keys[r]).ThenBy(r => r).ToArray();
            if (members[0] == rank) group._made[rank] = new ThreadGroup(members.Length, group);
            group.Sync(Timeout, "split");
            var comm = group._made[members[0]]!.Ranks[Array.IndexOf(members, rank)];
            comm.Timeout = Timeout;
            return comm;
        }

        public void Abort(int exitCode)
        {
            group.Root.Break();
            throw new GroupBrokenException();
        }

        public void Dispose() { }
    }
}
