using System.Diagnostics;
using System.Text;
using static Qwen3Gen.Distributed.MpiLibrary;

namespace Qwen3Gen.Distributed;

/// <summary>
/// <see cref="ICommunicator"/> over Open MPI's COMM_WORLD (one rank per process started by mpirun). Every collective
/// is started non-blocking (MPI_I*) and waited on by polling MPI_Test, so that a wait can give up after
/// <see cref="Timeout"/> (MPI's blocking calls cannot); after polling hot for a while, a wait yields the core between polls. Only the
/// thread that created the communicator may use it (MPI_THREAD_FUNNELED). Pending requests live in a slot array
/// that grows once, so a training step allocates nothing. <see cref="Split"/> makes sub-communicators over the same
/// processes (MPI_Comm_split); the world communicator initialises and finalises MPI, a sub-communicator frees its handle.
/// </summary>
public sealed unsafe class OpenMpiCommunicator : ICommunicator
{
    /// <summary>Elements per MPI call: MPI counts are int.</summary>
    private const int MaxCount = 1 << 30;

    /// <summary>How long a wait polls without yielding the core.</summary>
    private static readonly TimeSpan SpinTime = TimeSpan.FromMilliseconds(2);

    private nint* _requests = (nint*)System.Runtime.InteropServices.NativeMemory.Alloc(64, (nuint)sizeof(nint));
    private int _capacity = 64;
    private int _pending;                   // slots [0, _pending) hold requests started since the last time all completed
    private bool _disposed;
    private readonly nint _comm;            // MPI_COMM_WORLD, or a communicator made by Split
    private readonly bool _world;

    public OpenMpiCommunicator()
    {
        _world = true;
        _comm = CommWorld;
        int flag;
        Check(Initialized(&flag), "MPI_Initialized");
        if (flag != 0) throw new InvalidOperationException("MPI is already initialised in this process: create one OpenMpiCommunicator.");
        int provided;
        Check(InitThread(null, null, ThreadFunneled, &provided), "MPI_Init_thread");
        int rank, size;
        Check(CommRank(CommWorld, &rank), "MPI_Comm_rank");
        Check(CommSize(CommWorld, &size), "MPI_Comm_size");
        Rank = rank;
        Size = size;
        byte* version = stackalloc byte[256];                 // MPI_MAX_LIBRARY_VERSION_STRING
        int length;
        Check(GetLibraryVersion(version, &length), "MPI_Get_library_version");
        string text = Encoding.ASCII.GetString(version, length);
        Description = text.Split(',', '\n')[0].Trim();
    }

    private OpenMpiCommunicator(nint comm, string description, TimeSpan timeout)
    {
        _comm = comm;
        int rank, size;
        Check(CommRank(comm, &rank), "MPI_Comm_rank");
        Check(CommSize(comm, &size), "MPI_Comm_size");
        Rank = rank;
        Size = size;
        Description = description;
        Timeout = timeout;
    }

    /// <summary>
    /// MPI_Comm_split: blocking (MPI has no non-blocking form), so unlike the collectives it cannot time out; it is
    /// called once at start-up, when every rank is alive. Ties of <paramref name="key"/> are ordered by rank, as MPI does.
    /// </summary>
    public ICommunicator Split(int color, int key)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(color);
        nint made;
        Check(CommSplit(_comm, color, key, &made), "MPI_Comm_split");
        return new OpenMpiCommunicator(made, Description, Timeout);
    }

    public int Rank { get; }

    public int Size { get; }

    public string Description { get; }

    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(5);

    public CommRequest StartAllReduceSum(float* data, long count)
    {
        int first = _pending;
        for (long start = 0; start < count; start += MaxCount)
        {
            int n = (int)Math.Min(MaxCount, count - start);
            Check(Iallreduce(InPlace, data + start, n, FloatType, OpSum, _comm, NextSlot()), "MPI_Iallreduce");
        }
        return new CommRequest(first, _pending - first);
    }

    public CommRequest StartAllToAll(float* send, int* sendCounts, int* sendOffsets, float* receive, int* receiveCounts, int* receiveOffsets)
    {
        int first = _pending;
        Check(Ialltoallv(send, sendCounts, sendOffsets, FloatType, receive, receiveCounts, receiveOffsets, FloatType, _comm, NextSlot()), "MPI_Ialltoallv");
        return new CommRequest(first, 1);
    }

    public CommRequest StartAllGather(float* data, int* counts, int* offsets)
    {
        int first = _pending;
        Check(Iallgatherv(InPlace, 0, FloatType, data, counts, offsets, FloatType, _comm, NextSlot()), "MPI_Iallgatherv");
        return new CommRequest(first, 1);
    }

    public void Progress()
    {
        for (int i = 0; i < _pending; i++)
        {
            if (_requests[i] == RequestNull) continue;     // completed
            int done;
            Check(MpiLibrary.Test(_requests + i, &done, null), "MPI_Test");
        }
    }

    public void Wait(CommRequest request, string what)
    {
        long start = Stopwatch.GetTimestamp();
        for (int i = request.First; i < request.First + request.Count; i++)
        {
            while (true)
            {
                int done;
                Check(MpiLibrary.Test(_requests + i, &done, null), "MPI_Test");
                if (done != 0) break;
                var waited = Stopwatch.GetElapsedTime(start);
                if (waited > Timeout)
                    throw new CommunicationTimeoutException(
                        $"rank {Rank} of {Size}: {what} did not complete within {Timeout.TotalSeconds:0.#} s: another rank died, hangs or left the collective.");
                // A large all-reduce is many rounds, each advanced only by an MPI call: poll hot at first (as MPI's own
                // blocking calls do), and only after a while give the core away between polls.
                if (waited < SpinTime) Thread.SpinWait(16);
                else Thread.Yield();
            }
        }
        ReleaseSlots();
    }

    public void AllReduceSum(float* data, long count) => Wait(StartAllReduceSum(data, count), "all-reduce");

    public void AllReduceSum(Span<double> values)
    {
        fixed (double* p = values)
        {
            int first = _pending;
            Check(Iallreduce(InPlace, p, values.Length, DoubleType, OpSum, _comm, NextSlot()), "MPI_Iallreduce");
            Wait(new CommRequest(first, 1), "all-reduce of the step's statistics");
        }
    }

    public void Broadcast(void* data, long bytes, int root)
    {
        CheckRoot(root);
        int first = _pending;
        for (long start = 0; start < bytes; start += MaxCount)
            Check(Ibcast((byte*)data + start, (int)Math.Min(MaxCount, bytes - start), ByteType, root, _comm, NextSlot()), "MPI_Ibcast");
        Wait(new CommRequest(first, _pending - first), "broadcast");
    }

    public void Barrier()
    {
        int first = _pending;
        Check(Ibarrier(_comm, NextSlot()), "MPI_Ibarrier");
        Wait(new CommRequest(first, 1), "barrier");
    }

    public void AllGather(float* data, ReadOnlySpan<long> counts)
    {
        Span<int> n = stackalloc int[Size], displacements = stackalloc int[Size];
        Blocks(counts, n, displacements);
        fixed (int* c = n, d = displacements)
        {
            int first = _pending;
            Check(Iallgatherv(InPlace, 0, FloatType, data, c, d, FloatType, _comm, NextSlot()), "MPI_Iallgatherv");
            Wait(new CommRequest(first, 1), "all-gather");
        }
    }

    public void Gather(float* data, ReadOnlySpan<long> counts, int root)
    {
        CheckRoot(root);
        Span<int> n = stackalloc int[Size], displacements = stackalloc int[Size];
        Blocks(counts, n, displacements);
        fixed (int* c = n, d = displacements)
        {
            int first = _pending;
            // The root gathers in place; the others send their own block from where it lies.
            void* send = Rank == root ? InPlace : data + displacements[Rank];
            Check(Igatherv(send, n[Rank], FloatType, data, c, d, FloatType, root, _comm, NextSlot()), "MPI_Igatherv");
            Wait(new CommRequest(first, 1), "gather");
        }
    }

    public void Abort(int exitCode)
    {
        AbortJob(CommWorld, exitCode);
        Environment.Exit(exitCode);              // MPI_Abort does not return; this is never reached
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        int finalized;
        if (Finalized(&finalized) == Success && finalized == 0)
        {
            if (_world) FinalizeMpi();
            else { nint comm = _comm; CommFree(&comm); }
        }
        System.Runtime.InteropServices.NativeMemory.Free(_requests);
        _requests = null;
    }

    /// <summary>
    /// Once every started request has completed, the slots are reused from the start. Not earlier: a completed slot is
    /// not reused while an older request may still be waited on, so a CommRequest never names another request's slot.
    /// </summary>
    private void ReleaseSlots()
    {
        for (int i = 0; i < _pending; i++)
            if (_requests[i] != RequestNull) return;
        _pending = 0;
    }

    private nint* NextSlot()
    {
        if (_pending == _capacity)
        {
            // MPI keeps request handles (values), never the slots' addresses, so the slots may move between calls.
            _capacity *= 2;
            _requests = (nint*)System.Runtime.InteropServices.NativeMemory.Realloc(_requests, (nuint)(_capacity * sizeof(nint)));
        }
        _requests[_pending] = RequestNull;
        return _requests + _pending++;
    }

    private void CheckRoot(int root)
    {
        if ((uint)root >= (uint)Size) throw new ArgumentOutOfRangeException(nameof(root), root, $"Root must be a rank in 0..{Size - 1}.");
    }

    private void Blocks(ReadOnlySpan<long> counts, Span<int> n, Span<int> displacements)
    {
        if (counts.Length != Size) throw new ArgumentException($"{counts.Length} block counts for {Size} ranks.", nameof(counts));
        long offset = 0;
        for (int r = 0; r < Size; r++)
        {
            if (counts[r] < 0 || counts[r] > int.MaxValue || offset > int.MaxValue)
                throw new ArgumentException($"Block {r} ({counts[r]} floats at {offset}) exceeds MPI's int counts: gathers are limited to {int.MaxValue} floats.", nameof(counts));
            n[r] = (int)counts[r];
            displacements[r] = (int)offset;
            offset += counts[r];
        }
    }
}
