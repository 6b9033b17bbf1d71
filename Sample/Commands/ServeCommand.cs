using System.CommandLine;
using Qwen3Gen.Inference;
using Qwen3Gen.Kernels;
using Qwen3Gen.Sample.Serving;
using Qwen3Gen.Serving;
using Qwen3Gen.Threading;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `qwen3gen serve --model DIR|FILE`: the OpenAI-compatible HTTP server (Serving/OpenAiServer) over a continuous-batching
/// engine (Runtime/Serving/BatchEngine). As llama-server's -c, --ctx is the KV cache of all sequences together:
/// each of the --parallel sequences holds ctx / parallel positions (prompt + reply).
/// </summary>
internal static class ServeCommand
{
    public sealed record Settings
    {
        public required string ModelDir { get; init; }
        public WeightFormat? Format { get; init; }
        public string Host { get; init; } = "127.0.0.1";
        public int Port { get; init; } = 8080;
        public int Parallel { get; init; } = 8;
        public int Context { get; init; } = 8192;
        public int Chunk { get; init; } = 64;
        public int Queue { get; init; } = 64;
        public int? Threads { get; init; }
        public string? Name { get; init; }
    }

    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Hugging Face snapshot or training-checkpoint folder (config.json, model*.safetensors, tokenizer files), or a .gguf file.", Required = true };
        var host = new Option<string>("--host") { Description = "Address to listen on (127.0.0.1, 0.0.0.0, localhost).", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port (0: any free port, printed at start).", DefaultValueFactory = _ => 8080 };
        var parallel = new Option<int>("--parallel", "-np") { Description = $"Sequences decoded together (1..{MatMul.MatVecMaxRows}).", DefaultValueFactory = _ => 8 };
        var ctx = new Option<int>("--ctx", "-c") { Description = "KV cache positions of all sequences together; each gets ctx / parallel.", DefaultValueFactory = _ => 8192 };
        var chunk = new Option<int>("--prefill-chunk") { Description = "Prompt tokens per prefill step (running streams decode between chunks).", DefaultValueFactory = _ => 64 };
        var queue = new Option<int>("--queue") { Description = "Requests that may wait for a sequence slot; more get HTTP 429.", DefaultValueFactory = _ => 64 };
        var threads = new Option<int?>("--threads") { Description = "Threads for the kernels (default: all cores)." };
        var name = new Option<string?>("--name") { Description = "Model id in the API (default: the folder's name, or the .gguf file's without the extension)." };
        var bf16 = new Option<bool>("--bf16") { Description = "Keep matrices in BF16 (default when the checkpoint is BF16)." };
        var f32 = new Option<bool>("--f32") { Description = "Widen every weight to float32." };
        var command = new Command("serve", "Serve a Qwen3 model (snapshot, training checkpoint or .gguf) over an OpenAI-compatible HTTP API with continuous batching.")
            { model, host, port, parallel, ctx, chunk, queue, threads, name, bf16, f32 };
        command.SetAction(parse =>
        {
            string? problem = parse.GetValue(bf16) && parse.GetValue(f32) ? "give --bf16 or --f32, not both."
                : parse.GetValue(port) is < 0 or > 65535 ? $"--port ({parse.GetValue(port)}) must be in 0..65535."
                : parse.GetValue(parallel) is < 1 or > MatMul.MatVecMaxRows ? $"--parallel ({parse.GetValue(parallel)}) must be in 1..{MatMul.MatVecMaxRows}."
                : parse.GetValue(ctx) < 2 * parse.GetValue(parallel) ? $"--ctx ({parse.GetValue(ctx)}) must give each of the {parse.GetValue(parallel)} sequences at least 2 positions."
                : parse.GetValue(chunk) < 1 ? $"--prefill-chunk ({parse.GetValue(chunk)}) must be at least 1."
                : parse.GetValue(queue) < 0 ? $"--queue ({parse.GetValue(queue)}) must not be negative."
                : parse.GetValue(threads) is < 1 ? $"--threads ({parse.GetValue(threads)}) must be at least 1."
                : null;
            if (problem is not null)
            {
                Console.Error.WriteLine($"serve: error: {problem}");
                return 1;
            }
            var s = new Settings
            {
                ModelDir = parse.GetValue(model)!,
                Format = parse.GetValue(bf16) ? WeightFormat.BF16 : parse.GetValue(f32) ? WeightFormat.F32 : null,
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                Parallel = parse.GetValue(parallel),
                Context = parse.GetValue(ctx),
                Chunk = parse.GetValue(chunk),
                Queue = parse.GetValue(queue),
                Threads = parse.GetValue(threads),
                Name = parse.GetValue(name),
            };
            using var stop = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
            return Run(s, Console.Out, Console.Error, stop.Token).GetAwaiter().GetResult();
        });
        return command;
    }

    /// <summary>The model id a client sees: the folder's name, or the file's name less ".gguf" (as llama-server names a model by its file).</summary>
    public static string DefaultId(string model)
    {
        string path = Path.TrimEndingDirectorySeparator(Path.GetFullPath(model));
        return Directory.Exists(path) || !Checkpoints.GgufFile.IsGgufPath(path) ? Path.GetFileName(path) : Path.GetFileNameWithoutExtension(path);
    }

    public static async Task<int> Run(Settings s, TextWriter output, TextWriter error, CancellationToken stop)
    {
        var modelSettings = new ModelSettings { ModelDir = s.ModelDir, Format = s.Format, Threads = s.Threads };
        if (ModelLoading.Load("serve", modelSettings, error) is not var (loaded, tokenizer)) return 1;
        using (loaded)
        {
            try
            {
                int perSequence = Math.Min(s.Context / s.Parallel, loaded.Config.MaxPositions);
                var options = new BatchEngineOptions { Sequences = s.Parallel, Context = perSequence, PrefillChunk = s.Chunk, MaxQueue = s.Queue };
                using var engine = new BatchEngine(loaded.Model, tokenizer, loaded.Generation.EosTokenIds.Concat(tokenizer.EosIds), options);
                string id = s.Name ?? DefaultId(s.ModelDir);
                await using var server = await OpenAiServer.StartAsync(engine, id, loaded.Generation, s.Host, s.Port, error);
                long kv = 2L * loaded.Config.Layers * loaded.Config.KvHeads * loaded.Config.HeadDim * 4 * perSequence * s.Parallel;
                output.WriteLine($"serve: {loaded.Definition.Name} ({loaded.Format}) as '{id}' on {server.Address}: {s.Parallel} sequences of {perSequence} positions " +
                                 $"(KV cache {kv / (1 << 20)} MiB), prefill chunk {s.Chunk}, queue {s.Queue}, {Workers.Threads} threads. Ctrl+C stops.");
                output.Flush();
                try { await server.WaitForShutdownAsync(stop); }
                catch (OperationCanceledException) { }
                return 0;
            }
            catch (Exception e) when (ModelLoading.IsUserError(e) || e is IOException)
            {
                ModelLoading.Fail("serve", e, error);
                return 1;
            }
        }
    }
}
