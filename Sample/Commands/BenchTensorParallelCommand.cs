using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Qwen3Gen.Distributed;
using Qwen3Gen.Models;
using Qwen3Gen.TensorParallel;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `mpirun -np N qwen3gen bench tensor-parallel`: prefill and decode tokens/s of a compiled definition split N ways
/// (random weights, each rank allocating only its slice), with the time each rank waited in the all-reduces, per token.
/// Started without mpirun it runs the same code as one rank (N = 1), the baseline of the same program.
/// The comparison in docs/distributed.md runs it interleaved with `bench generate` (one process, all its threads).
/// </summary>
internal static class BenchTensorParallelCommand
{
    public static Command Create()
    {
        var definition = new Option<string>("--definition") { Description = "Compiled definition to measure, dense or MoE.", DefaultValueFactory = _ => "Qwen3_0_6B" };
        var format = new Option<string>("--format") { Description = "Weight format of every rank: bf16 or f32.", DefaultValueFactory = _ => "bf16" };
        var threads = new Option<int>("--threads") { Description = "Kernel threads of each rank.", DefaultValueFactory = _ => 1 }.AtLeast(1);
        var prompt = new Option<int>("--prompt-tokens") { Description = "Prompt length for the prefill measurement.", DefaultValueFactory = _ => 128 }.AtLeast(1);
        var decode = new Option<int>("--decode-tokens") { Description = "Decode steps measured.", DefaultValueFactory = _ => 32 }.AtLeast(1);
        var repeat = new Option<int>("--repeat") { Description = "Runs; the best is reported with the min / median / max decode rate.", DefaultValueFactory = _ => 3 }.AtLeast(1);
        var commTimeout = new Option<double>("--comm-timeout") { Description = "Seconds to wait on another rank before aborting the job.", DefaultValueFactory = _ => 300 };
        var command = new Command("tensor-parallel", "Under mpirun: prefill / decode tokens/s of a definition split across the ranks, and the all-reduce time per token.")
            { definition, format, threads, prompt, decode, repeat, commTimeout };
        command.SetAction(parse => Run(parse.GetValue(definition)!, parse.GetValue(format)!, parse.GetValue(threads), parse.GetValue(prompt),
                                       parse.GetValue(decode), parse.GetValue(repeat), Console.Out, Console.Error, parse.GetValue(commTimeout)));
        return command;
    }

    public static int Run(string name, string formatName, int threads, int promptTokens, int decodeTokens, int repeat, TextWriter output, TextWriter error,
                          double commTimeout = 300)
    {
        if (!(commTimeout > 0) || !double.IsFinite(commTimeout))
        {
            error.WriteLine($"bench tensor-parallel: error: --comm-timeout ({commTimeout}) must be a positive number of seconds.");
            return 1;
        }
        ModelLoading.RegisterDefinitions();
        var definition = ModelCatalog.Find(name);
        if (definition is null)
        {
            error.WriteLine($"bench tensor-parallel: error: no compiled definition '{name}'. Known: {string.Join(", ", ModelCatalog.All.Select(d => d.Name))}.");
            return 1;
        }
        WeightFormat? format = formatName.ToLowerInvariant() switch { "bf16" => WeightFormat.BF16, "f32" => WeightFormat.F32, _ => null };
        if (format is null)
        {
            error.WriteLine($"bench tensor-parallel: error: --format '{formatName}': give bf16 or f32.");
            return 1;
        }
        if (promptTokens + decodeTokens > definition.Config.PositionLimit)
        {
            error.WriteLine($"bench tensor-parallel: error: {promptTokens} + {decodeTokens} tokens exceed the model's {definition.Config.PositionLimit} positions.");
            return 1;
        }
        using var comm = Communicator.FromEnvironment();
        if (TensorSplit.Problem(definition.Config, comm.Size) is { } problem)
        {
            if (comm.Rank == 0) error.WriteLine($"bench tensor-parallel: error: {problem}");
            return 1;
        }
        comm.Timeout = TimeSpan.FromSeconds(commTimeout);
        Workers.Threads = threads;
        return TensorParallelCli.Guarded("bench tensor-parallel", comm, error, () => Measure(comm, definition, format.Value, formatName, threads, promptTokens, decodeTokens, repeat, output));
    }

    private static int Measure(ICommunicator comm, ModelDefinition definition, WeightFormat format, string formatName, int threads, int promptTokens, int decodeTokens,
                               int repeat, TextWriter output)
    {
        using var model = TensorParallelModels.Random(comm, definition, format);
        var prompt = Enumerable.Range(0, promptTokens).Select(i => (i * 7919 + 13) % definition.Config.Vocab).ToArray();
        double bestPrefill = 0;
        var decodeRates = new List<double>();
        var commPerToken = new List<double>();
        for (int run = 0; run < repeat + 1; run++)                                          // run 0 warms up (JIT, first touch)
        {
            using var session = model.CreateSession(promptTokens + decodeTokens + 1, chunk: promptTokens);
            comm.Barrier();
            long t0 = Stopwatch.GetTimestamp();
            session.Prefill(prompt);
            comm.Barrier();
            double prefill = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            var commBefore = model.CommunicationTime;
            long t1 = Stopwatch.GetTimestamp();
            for (int i = 0; i < decodeTokens; i++) session.Decode((i * 31 + 7) % definition.Config.Vocab);
            comm.Barrier();
            double decode = Stopwatch.GetElapsedTime(t1).TotalSeconds;
            if (run == 0) continue;
            bestPrefill = Math.Max(bestPrefill, promptTokens / prefill);
            decodeRates.Add(decodeTokens / decode);
            commPerToken.Add((model.CommunicationTime - commBefore).TotalMilliseconds / decodeTokens);
        }
        var combine = new[] { 1, promptTokens }.Select(rows => (rows, cost: CombineCost(comm, rows, definition.Config.Hidden, Math.Max(1, definition.Config.ExpertsPerToken), 20))).ToArray();
        if (comm.Rank != 0) return 0;
        decodeRates.Sort();
        commPerToken.Sort();
        var c = CultureInfo.InvariantCulture;
        int reduces = 2 * definition.Config.Layers + 1;
        output.WriteLine(string.Format(c, "{0} {1}, {2} rank(s) x {3} thread(s) ({4}): slice {5:0.00} GB/rank", definition.Name, formatName.ToLowerInvariant(),
            comm.Size, threads, comm.Description, model.Weights.Bytes / 1e9));
        output.WriteLine(string.Format(c, "  prefill {0} tokens: {1:0.0} tok/s (best of {2})", promptTokens, bestPrefill, repeat));
        output.WriteLine(string.Format(c, "  decode {0} tokens: {1:0.00} tok/s best (min {2:0.00}, median {3:0.00})", decodeTokens,
            decodeRates[^1], decodeRates[0], decodeRates[decodeRates.Count / 2]));
        double latency = combine[0].cost.AllReduce;
        output.WriteLine(string.Format(c, "  all-reduce of one token's h ({0} floats), ranks in step: {1:0.0} us; a decode token needs {2} of them: {3:0.000} ms",
            definition.Config.Hidden, latency, reduces, latency * reduces / 1000));
        output.WriteLine(string.Format(c, "  time in all-reduces per decode token: {0:0.000} ms median (the latency above plus waiting for the slower rank)",
            commPerToken[commPerToken.Count / 2]));
        if (definition.Config.IsMoe)
            foreach (var (rows, cost) in combine)
            output.WriteLine(string.Format(c, "  MoE combine of {0} row(s), one sparse layer: all-reduce {1:0.0} us, all-to-all x2 + all-gather {2:0.0} us (median of 20)",
                rows, cost.AllReduce, cost.AllToAll));
        return 0;
    }

    /// <summary>
    /// MoE under expert parallelism: the two ways to combine the experts' outputs, timed with this job's collectives for
    /// R rows of a sparse layer (every rank holding every row, as here, vs rows sharded R / N per rank):
    /// <list type="bullet">
    /// <item>all-reduce (what <see cref="TensorParallelModel{S, W}"/> does): each rank sums its own experts' contributions
    /// for every row, one all-reduce of R × Hidden floats;</item>
    /// <item>all-to-all (GShard / DeepSpeed-MoE): each rank routes its R / N rows' k copies to the experts' owners (uniform
    /// routing: R / N · k / N rows to each rank), the outputs come back the same way, and an all-gather of the R / N
    /// finished rows restores every rank's copy of h: two all-to-alls and one all-gather.</item>
    /// </list>
    /// Returns the median microseconds of each, over <paramref name="repeat"/> timings.
    /// </summary>
    public static unsafe (double AllReduce, double AllToAll) CombineCost(ICommunicator comm, int rows, int hidden, int topK, int repeat)
    {
        int n = comm.Size;
        int perPeer = Math.Max(1, rows * topK / (n * n)) * hidden, mine = Math.Max(1, rows / n) * hidden;
        using var a = new Kernels.NativeBuffer<float>((long)rows * hidden);
        using var send = new Kernels.NativeBuffer<float>((long)perPeer * n);
        using var receive = new Kernels.NativeBuffer<float>((long)perPeer * n);
        using var gathered = new Kernels.NativeBuffer<float>((long)mine * n);
        using var ints = new Kernels.NativeBuffer<int>(2L * n);
        a.Clear(); send.Clear(); gathered.Clear();
        int* counts = ints.Pointer, offsets = ints.Pointer + n;
        for (int j = 0; j < n; j++) { counts[j] = perPeer; offsets[j] = j * perPeer; }
        var blocks = Enumerable.Repeat((long)mine, n).ToArray();
        var reduce = new double[repeat];
        var exchange = new double[repeat];
        for (int i = -2; i < repeat; i++)                                               // two warm-up rounds
        {
            comm.Barrier();
            long t0 = Stopwatch.GetTimestamp();
            comm.AllReduceSum(a.Pointer, (long)rows * hidden);
            double r = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
            comm.Barrier();
            long t1 = Stopwatch.GetTimestamp();
            comm.Wait(comm.StartAllToAll(send.Pointer, counts, offsets, receive.Pointer, counts, offsets), "all-to-all dispatch");
            comm.Wait(comm.StartAllToAll(receive.Pointer, counts, offsets, send.Pointer, counts, offsets), "all-to-all combine");
            comm.AllGather(gathered.Pointer, blocks);
            double x = Stopwatch.GetElapsedTime(t1).TotalMicroseconds;
            if (i >= 0) { reduce[i] = r; exchange[i] = x; }
        }
        Array.Sort(reduce);
        Array.Sort(exchange);
        return (reduce[repeat / 2], exchange[repeat / 2]);
    }
}
