using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Qwen3Gen.Kernels;
using Qwen3Gen.Profiling;
using Qwen3Gen.Serving;
using Qwen3Gen.Threading;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `qwen3gen bench batch`: continuous batching on a compiled definition (default Qwen3_0_6B) with random weights.
/// (1) Aggregate decode tokens/s of one batched decode step over 1, 4, 8, 16 sequences (each at its own position
/// after a prompt of --prompt-tokens), against the one-sequence rate. (2) Time to first token and inter-token
/// latency percentiles when --clients requests at a time run through the <see cref="BatchEngine"/> (in process, no
/// HTTP): each client sends --requests prompts of random ids, greedy, --decode-tokens tokens each.
/// </summary>
internal static class BenchBatchCommand
{
    public static Command Create()
    {
        var definition = new Option<string>("--definition") { Description = "Compiled definition to measure.", DefaultValueFactory = _ => "Qwen3_0_6B" };
        var format = new Option<string>("--format") { Description = "Weight format: bf16 or f32.", DefaultValueFactory = _ => "bf16" };
        var threads = new Option<int>("--threads") { Description = "Kernel threads.", DefaultValueFactory = _ => 2 };
        var sequences = new Option<string>("--sequences") { Description = "Batch sizes for the aggregate decode rate, comma-separated (at most 16).", DefaultValueFactory = _ => "1,4,8,16" };
        var prompt = new Option<int>("--prompt-tokens") { Description = "Prompt length of each sequence / request.", DefaultValueFactory = _ => 32 };
        var decode = new Option<int>("--decode-tokens") { Description = "Decode steps measured / tokens per request.", DefaultValueFactory = _ => 32 };
        var clients = new Option<int>("--clients") { Description = "Concurrent requests in the latency run (0: skip it).", DefaultValueFactory = _ => 16 };
        var requests = new Option<int>("--requests") { Description = "Requests per client in the latency run.", DefaultValueFactory = _ => 2 };
        var profile = new Option<bool>("--profile") { Description = "Print where each batch size's decode steps spent their time (wall ms per parallel job type, per step)." };
        var command = new Command("batch", "Continuous batching: aggregate decode tok/s at 1/4/8/16 sequences; TTFT and inter-token p50/p99 under concurrent clients.")
            { definition, format, threads, sequences, prompt, decode, clients, requests, profile };
        command.SetAction(parse => Run(parse.GetValue(definition)!, parse.GetValue(format)!, parse.GetValue(threads), parse.GetValue(sequences)!,
                                       parse.GetValue(prompt), parse.GetValue(decode), parse.GetValue(clients), parse.GetValue(requests), Console.Out, Console.Error,
                                       parse.GetValue(profile)));
        return command;
    }

    public static int Run(string name, string formatName, int threads, string sequenceList, int promptTokens, int decodeTokens, int clients, int requests,
                          TextWriter output, TextWriter error, bool profile = false)
    {
        ModelLoading.RegisterDefinitions();
        var c = CultureInfo.InvariantCulture;
        int[] sizes;
        try { sizes = sequenceList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => int.Parse(s, c)).ToArray(); }
        catch (Exception e) when (e is FormatException or OverflowException) { error.WriteLine($"bench batch: error: --sequences '{sequenceList}': {e.Message}"); return 1; }
        string? problem = ModelCatalog.Find(name) is null ? $"no compiled definition '{name}'."
            : formatName is not ("bf16" or "f32") ? $"--format '{formatName}': bf16 or f32."
            : threads < 1 ? $"--threads ({threads}) must be at least 1."
            : sizes.Length == 0 || sizes.Any(n => n < 1 || n > MatMul.MatVecMaxRows) ? $"--sequences: each in 1..{MatMul.MatVecMaxRows}."
            : promptTokens < 1 || decodeTokens < 1 ? "--prompt-tokens and --decode-tokens must be at least 1."
            : clients < 0 || clients > MatMul.MatVecMaxRows || requests < 1 ? $"--clients in 0..{MatMul.MatVecMaxRows}, --requests at least 1."
            : null;
        if (problem is not null) { error.WriteLine($"bench batch: error: {problem}"); return 1; }
        var format = formatName == "bf16" ? WeightFormat.BF16 : WeightFormat.F32;
        Workers.Threads = threads;
        using var model = ModelCatalog.Find(name)!.Create(format);
        WeightInit.Normal(model, seed: 1);
        int vocab = model.Config.Vocab, capacity = promptTokens + decodeTokens + 2;
        var rng = new Random(3);
        output.WriteLine($"bench batch: {name} {formatName.ToUpperInvariant()}, {threads} threads, prompt {promptTokens}, {decodeTokens} decode steps, " +
                         $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, load {LoadAverage()}");

        // (1) aggregate decode rate per batch size
        double single = 0;
        foreach (int n in sizes)
        {
            using var session = model.CreateBatchSession(n, capacity, chunk: 64);
            var slots = Enumerable.Range(0, n).ToArray();
            var tokens = new int[n];
            foreach (int s in slots) session.Prefill(s, Enumerable.Range(0, promptTokens).Select(_ => rng.Next(vocab)).ToArray());
            session.Decode(slots, tokens);                                            // warm
            Profiler.Reset();
            Profiler.Enabled = profile;
            var clock = Stopwatch.StartNew();
            for (int step = 1; step < decodeTokens; step++)
            {
                for (int i = 0; i < n; i++) tokens[i] = rng.Next(vocab);
                session.Decode(slots, tokens);
            }
            double rate = n * (decodeTokens - 1) / clock.Elapsed.TotalSeconds;
            Profiler.Enabled = false;
            if (n == 1) single = rate;
            output.WriteLine(string.Format(c, "  {0,2} sequences: {1,7:0.0} tok/s aggregate, {2,6:0.0} ms/step{3}", n, rate,
                                           clock.Elapsed.TotalMilliseconds / (decodeTokens - 1), single > 0 ? string.Format(c, "  ({0:0.00}x one sequence)", rate / single) : ""));
            if (profile)
            {
                var jobs = Profiler.Snapshot().OrderByDescending(j => j.Milliseconds).ToArray();
                double steps = decodeTokens - 1, serial = clock.Elapsed.TotalMilliseconds - jobs.Sum(j => j.Milliseconds);
                output.WriteLine(string.Format(c, "      per step: {0} + serial {1:0.00} ms", string.Join(", ", jobs.Select(j =>
                    string.Format(c, "{0} {1:0.00} ms ({2})", j.Name, j.Milliseconds / steps, j.Calls / (long)steps))), serial / steps));
            }
        }
        if (clients == 0) return 0;

        // (2) latency under concurrent clients through the engine
        var tokenizer = Qwen3Tokenizer.LoadBundled();
        var options = new BatchEngineOptions { Sequences = clients, Context = capacity, PrefillChunk = 64, MaxQueue = clients * requests };
        var ttft = new List<double>();
        var itl = new List<double>();
        var total = Stopwatch.StartNew();
        int generated = 0;
        using (var engine = new BatchEngine(model, tokenizer.VocabSize <= vocab ? tokenizer : throw new InvalidOperationException("vocabulary"), [], options))
        {
            var tasks = Enumerable.Range(0, clients).Select(client => Task.Run(async () =>
            {
                var prng = new Random(100 + client);
                for (int r = 0; r < requests; r++)
                {
                    var times = new List<long>();
                    var start = Stopwatch.GetTimestamp();
                    var job = new GenerationJob
                    {
                        Prompt = Enumerable.Range(0, promptTokens).Select(_ => prng.Next(vocab)).ToArray(),
                        MaxTokens = decodeTokens,
                        OnToken = _ => times.Add(Stopwatch.GetTimestamp()),
                    };
                    var result = await engine.Submit(job).Result;
                    lock (ttft)
                    {
                        generated += result.GeneratedIds.Length;
                        ttft.Add(Stopwatch.GetElapsedTime(start, times[0]).TotalMilliseconds);
                        for (int i = 1; i < times.Count; i++) itl.Add(Stopwatch.GetElapsedTime(times[i - 1], times[i]).TotalMilliseconds);
                    }
                }
            })).ToArray();
            Task.WaitAll(tasks);
        }
        double seconds = total.Elapsed.TotalSeconds;
        output.WriteLine(string.Format(c, "  {0} clients x {1} requests ({2} prompt + {3} tokens each): {4:0.0} tok/s generated; " +
                                          "TTFT p50 {5:0} ms p99 {6:0} ms; inter-token p50 {7:0.0} ms p99 {8:0.0} ms",
                                       clients, requests, promptTokens, decodeTokens, generated / seconds,
                                       Percentile(ttft, 0.5), Percentile(ttft, 0.99), Percentile(itl, 0.5), Percentile(itl, 0.99)));
        return 0;
    }

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
        catch (UnauthorizedAccessException) { return "?"; }
    }
}
