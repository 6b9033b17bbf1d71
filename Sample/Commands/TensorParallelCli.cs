using System.Text;
using Qwen3Gen.Distributed;
using Qwen3Gen.Inference;
using Qwen3Gen.Sampling;
using Qwen3Gen.TensorParallel;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `mpirun -np N qwen3gen generate|chat … --tensor-parallel N`: every rank loads its slice of the model
/// (<see cref="TensorParallelFolder"/>) and runs the same generation in step, picking tokens together with a
/// <see cref="ShardedSampler"/>; rank 0 prints. A failure on one rank (a file it cannot read, a peer that stopped
/// answering for --comm-timeout seconds) would leave the others waiting in a collective, so it ends the whole job with
/// MPI_Abort after printing what happened and on which rank.
/// </summary>
internal static class TensorParallelCli
{
    /// <summary>Runs <paramref name="body"/> on this rank with its communicator and loaded slice; the exit code.</summary>
    public static int Run(string command, ModelSettings s, TextWriter error, Func<ICommunicator, LoadedTensorParallelModel, int> body)
    {
        int ways = s.TensorParallel ?? 1;
        string? problem = s.Adapter is not null ? "--adapter is not supported with --tensor-parallel (merge it into a snapshot first: qwen3gen export)."
            : s.CacheFormat != Kernels.KvCacheFormat.F32 ? "--cache-type: tensor-parallel ranks keep an F32 KV cache."
            : ways > 1 && !Communicator.LaunchedByMpirun ? $"--tensor-parallel {ways} runs as {ways} processes: start it with `mpirun -np {ways} qwen3gen {command} … --tensor-parallel {ways}`."
            : Communicator.LaunchedByMpirun && ParseSize() != ways
                ? $"--tensor-parallel {ways} under mpirun -np {ParseSize()}: give the same number (each rank holds 1/N of the model)."
            : null;
        if (problem is not null)
        {
            if (!Communicator.LaunchedByMpirun || ParseRank() == 0) error.WriteLine($"{command}: error: {problem}");
            return 1;
        }
        ICommunicator comm;
        try { comm = Communicator.FromEnvironment(); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or IOException or InvalidOperationException)
        {
            error.WriteLine($"{command}: {e.Message}");
            return 2;
        }
        using (comm)
        {
            comm.Timeout = TimeSpan.FromSeconds(s.CommTimeout);
            return Guarded(command, comm, error, () =>
            {
                if (s.Threads is int threads) Workers.Threads = threads;
                else if (Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_SIZE") is { } local && int.TryParse(local, out int onMachine) && onMachine > 0)
                    Workers.Threads = Math.Max(1, Environment.ProcessorCount / onMachine);     // the machine's cores shared by its ranks
                ModelLoading.RegisterDefinitions();
                using var loaded = TensorParallelFolder.Load(comm, s.ModelDir, s.Format);
                return body(comm, loaded);
            });
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/> on this rank; an exception is printed with the rank and ends the whole job (MPI_Abort):
    /// a bad file or option is usually seen by every rank alike, but not always (a file on one machine only, a peer that
    /// stopped answering), and a failing rank must not leave the others blocked in a collective.
    /// </summary>
    public static int Guarded(string command, ICommunicator comm, TextWriter error, Func<int> body)
    {
        try { return body(); }
        catch (Exception e)
        {
            error.WriteLine(comm.Size > 1 ? $"{command} (rank {comm.Rank} of {comm.Size}): error: {e.Message}" : $"{command}: error: {e.Message}");
            error.Flush();
            int code = ModelLoading.IsUserError(e) || e is CommunicationTimeoutException ? 1 : 3;
            if (comm.Size > 1) comm.Abort(code);
            return code;
        }
    }

    private static int ParseSize() => int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE"), out int n) ? n : 1;

    private static int ParseRank() => int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_RANK"), out int r) ? r : 0;

    /// <summary>A session of the rank's slice and a sampler over the same ranks, for <see cref="TextGeneration"/> or <see cref="ChatEngine"/>.</summary>
    public static (ITensorParallelSession Session, ShardedSampler Sampler) Decoder(ICommunicator comm, LoadedTensorParallelModel loaded, int context, SamplingOptions sampling)
    {
        var session = loaded.Model.CreateSession(context);
        try { return (session, new ShardedSampler(comm, loaded.Config.Vocab, session.VocabStart, session.VocabCount, sampling)); }
        catch { session.Dispose(); throw; }
    }

    /// <summary>
    /// The lines of a chat, read by rank 0 (mpirun gives stdin to rank 0 only) and broadcast to every rank, so that all
    /// ranks run the same turns. End of input reaches every rank as null.
    /// </summary>
    public sealed unsafe class BroadcastLines(ICommunicator comm, TextReader input) : TextReader
    {
        public override string? ReadLine()
        {
            string? line = comm.Rank == 0 ? input.ReadLine() : null;
            byte[] bytes = line is null ? [] : Encoding.UTF8.GetBytes(line);
            long length = line is null ? -1 : bytes.Length;
            comm.Broadcast(&length, sizeof(long), root: 0);
            if (length < 0) return null;
            if (comm.Rank != 0) bytes = new byte[length];
            fixed (byte* b = bytes) if (length > 0) comm.Broadcast(b, length, root: 0);
            return comm.Rank == 0 ? line : Encoding.UTF8.GetString(bytes);
        }
    }
}
