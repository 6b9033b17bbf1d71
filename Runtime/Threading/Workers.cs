namespace Qwen3Gen.Threading;

/// <summary>A unit of parallel work: runs the outputs with indices [start, end).</summary>
public interface IParallelJob
{
    void Execute(int start, int end);
}

/// <summary>
/// Splits independent outputs over a persistent pool of threads (Threads - 1 workers; the caller is the last one).
/// Contract: each index is computed by exactly one thread and its result does not depend on how indices are
/// split, so results are bit-identical for any thread count. Chunks are handed out dynamically (an Interlocked
/// counter), which balances uneven work without changing any result.
/// <para>
/// Zero allocation per call: the struct job is stored in a static generic slot (<see cref="JobSlot{TJob}"/>)
/// and workers run it through a delegate cached once per job type. One job runs at a time; a job started from
/// inside a job (or while another thread's job runs) runs inline on the calling thread, so there is never
/// oversubscription and never a deadlock.
/// </para>
/// </summary>
public static class Workers
{
    private static int _threads = Math.Max(1, Environment.ProcessorCount);

    /// <summary>Threads used by kernels (default: all cores). Settable at any time between jobs.</summary>
    public static int Threads
    {
        get => _threads;
        set => _threads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "Threads must be at least 1.");
    }

    /// <summary>Runs <paramref name="job"/> over [0, count) in chunks of about count / (4 · Threads) indices.</summary>
    public static void For<TJob>(int count, TJob job) where TJob : struct, IParallelJob
    {
        int threads = Math.Min(_threads, count);
        For(count, job, threads <= 1 ? Math.Max(count, 1) : Math.Max(1, count / (4 * threads)));
    }

    /// <summary>
    /// Runs <paramref name="job"/> over [0, count) rows of about <paramref name="rowCost"/> floats of element-wise work each
    /// (norms, RoPE, SwiGLU, residual adds): chunks of count / (4 · Threads) rows, but never under 16 Ki floats of work, so
    /// that a small call (a decode step's single row) runs inline instead of paying a hand-off for a few microseconds.
    /// </summary>
    public static void ForRows<TJob>(int count, long rowCost, TJob job) where TJob : struct, IParallelJob
    {
        const long MinChunkCost = 16 * 1024;
        int threads = Math.Min(_threads, count);
        int grain = threads <= 1 ? Math.Max(count, 1) : Math.Max(1, count / (4 * threads));
        long minRows = (MinChunkCost + Math.Max(rowCost, 1) - 1) / Math.Max(rowCost, 1);
        For(count, job, (int)Math.Min(Math.Max(grain, minRows), Math.Max(count, 1)));
    }

    /// <summary>Runs <paramref name="job"/> over [0, count) in chunks of <paramref name="grain"/> indices (the last may be shorter).</summary>
    public static void For<TJob>(int count, TJob job, int grain) where TJob : struct, IParallelJob
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "Count must not be negative.");
        if (grain < 1) throw new ArgumentOutOfRangeException(nameof(grain), grain, "Grain must be at least 1.");
        if (count == 0) return;
        if (Profiling.Profiler.Enabled && !Pool.InJob)
        {
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            Run(count, job, grain);
            Profiling.Profiler.Add(Profiling.Profiler.Slot<TJob>.Index, System.Diagnostics.Stopwatch.GetTimestamp() - t0);
            return;
        }
        Run(count, job, grain);
    }

    private static void Run<TJob>(int count, TJob job, int grain) where TJob : struct, IParallelJob
    {
        int chunks = (int)(((long)count + grain - 1) / grain);
        int threads = Math.Min(_threads, chunks);
        // Inline: one thread wanted, we are already inside a job, or another thread's job holds the pool.
        if (threads <= 1 || chunks >= Pool.MaxChunks || Pool.InJob || Interlocked.CompareExchange(ref Pool.Busy, 1, 0) != 0)
        {
            job.Execute(0, count);
            return;
        }
        try
        {
            JobSlot<TJob>.Job = job;
            Pool.Run(JobSlot<TJob>.RunChunk, count, grain, threads);
        }
        finally
        {
            JobSlot<TJob>.Job = default;
            Volatile.Write(ref Pool.Busy, 0);
        }
    }

    /// <summary>Holds the current job of type <typeparamref name="TJob"/> so that workers can run it without boxing.</summary>
    private static class JobSlot<TJob> where TJob : struct, IParallelJob
    {
        public static TJob Job;
        public static readonly Action<int, int> RunChunk = static (start, end) => Job.Execute(start, end);
    }

    /// <summary>
    /// The pool. State is one 64-bit word: the job's generation (high 32 bits) and the next chunk (low 32 bits),
    /// so that taking a chunk and learning which job it belongs to is a single Interlocked.Increment.
    /// </summary>
    private static class Pool
    {
        public static int Busy;                       // 1 while a job owns the pool
        [ThreadStatic] public static bool InJob;      // true on a thread that is executing a job's chunk

        private static long _state;                   // (generation << 32) | next chunk
        private static int _inflight;                 // threads between "about to take a chunk" and "chunk done"
        private static Action<int, int>? _run;        // the job's chunk runner (valid for the current generation)
        private static int _count, _grain, _chunks, _participants;
        private static int _sleepers;
        private static readonly object Gate = new();
        private static readonly List<Thread> Started = new();
        private const int Closed = 0x4000_0000;       // chunk index that means "job finished"
        public const int MaxChunks = Closed;
        private static Exception? _error;             // first exception thrown by a chunk (any thread)
        // How long an idle worker polls for the next job before it blocks. A training step or a prefill is a stream of
        // jobs separated by serial gaps of 0.1 to 1 ms (norms, RoPE, SwiGLU); a blocked worker takes 50 to 200 µs to wake
        // (futex + IPI, more under a hypervisor). With 100 µs of polling the worker slept before about half of the jobs
        // of a training step (counted: 55 of 100) and the caller ran most of them alone, so 2 threads did not beat 1.
        // 2 ms covers the gaps; while polling, the worker yields its core now and then, so that on a busy machine
        // other threads still get to run.
        private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 500;     // 2 ms

        public static void Run(Action<int, int> run, int count, int grain, int threads)
        {
            EnsureWorkers(threads - 1);
            _run = run; _count = count; _grain = grain;
            _chunks = (int)(((long)count + grain - 1) / grain);
            _participants = threads - 1;
            long generation = (Volatile.Read(ref _state) >> 32) + 1;
            Interlocked.Exchange(ref _state, generation << 32);           // publish: fields above are visible first
            if (Volatile.Read(ref _sleepers) > 0)
                lock (Gate) Monitor.PulseAll(Gate);

            InJob = true;
            try { Drain(); }
            finally
            {
                InJob = false;
                // Close the job so that a late worker cannot take a chunk, then wait for chunks still running.
                Interlocked.Exchange(ref _state, (generation << 32) | Closed);
                var spin = new SpinWait();
                while (Volatile.Read(ref _inflight) != 0) spin.SpinOnce(sleep1Threshold: -1);
                _run = null;
            }
            if (Interlocked.Exchange(ref _error, null) is { } error)
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);   // original type and stack
        }

        /// <summary>Takes and runs chunks until none is left (or the job is closed).</summary>
        private static void Drain()
        {
            while (true)
            {
                Interlocked.Increment(ref _inflight);
                long s = Interlocked.Increment(ref _state);
                int chunk = (int)(s & 0xFFFF_FFFF) - 1;
                if (chunk >= _chunks)
                {
                    Interlocked.Decrement(ref _inflight);
                    return;
                }
                int start = chunk * _grain;
                int end = (int)Math.Min((long)start + _grain, _count);
                // Record the first exception before leaving "inflight", so the caller sees it before it returns.
                try { _run!(start, end); }
                catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
                finally { Interlocked.Decrement(ref _inflight); }
            }
        }

        private static void EnsureWorkers(int wanted)
        {
            while (Started.Count < wanted)
            {
                int index = Started.Count;
                var t = new Thread(() => WorkerLoop(index)) { IsBackground = true, Name = $"Qwen3Gen worker {index + 1}" };
                Started.Add(t);
                t.Start();
            }
        }

        private static void WorkerLoop(int index)
        {
            InJob = true;
            long seen = Volatile.Read(ref _state) >> 32;
            while (true)
            {
                seen = WaitForGeneration(seen);
                if (index >= Volatile.Read(ref _participants)) continue;   // not needed for this job
                Drain();
            }
        }

        /// <summary>Polls for the next job for up to <see cref="SpinTicks"/> (yielding every 64th round), then blocks.</summary>
        private static long WaitForGeneration(long seen)
        {
            long until = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
            int round = 0;
            do
            {
                long g = Volatile.Read(ref _state) >> 32;
                if (g != seen) return g;
                if (++round % 64 == 0) Thread.Yield();
                else Thread.SpinWait(16);
            } while (System.Diagnostics.Stopwatch.GetTimestamp() < until);
            lock (Gate)
            {
                Interlocked.Increment(ref _sleepers);
                long g;
                while ((g = Volatile.Read(ref _state) >> 32) == seen) Monitor.Wait(Gate);
                Interlocked.Decrement(ref _sleepers);
                return g;
            }
        }
    }
}
