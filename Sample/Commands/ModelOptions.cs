using System.CommandLine;
using System.Text.Json;
using Qwen3Gen.Inference;
using Qwen3Gen.Kernels;
using Qwen3Gen.Sampling;
using Qwen3Gen.Threading;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Commands;

/// <summary>What `generate` and `chat` share: the model directory, weight format, threads, token limit and sampler overrides.</summary>
internal sealed record ModelSettings
{
    public required string ModelDir { get; init; }
    public WeightFormat? Format { get; init; }
    public int? Threads { get; init; }
    public int? MaxTokens { get; init; }
    public int? Context { get; init; }
    public float? Temperature { get; init; }
    public int? TopK { get; init; }
    public float? TopP { get; init; }
    public float? MinP { get; init; }
    public float? RepetitionPenalty { get; init; }
    public float? PresencePenalty { get; init; }
    public ulong? Seed { get; init; }
    public KvCacheFormat CacheFormat { get; init; }

    /// <summary>A PEFT LoRA adapter folder merged into the weights after loading (F32).</summary>
    public string? Adapter { get; init; }

    /// <summary>Under mpirun: split the model across this many ranks (tensor parallelism; null: one process holds it all).</summary>
    public int? TensorParallel { get; init; }

    /// <summary>Under mpirun: seconds a rank waits on the others before the job is aborted.</summary>
    public double CommTimeout { get; init; } = 300;

    /// <summary><paramref name="defaults"/> with every option given on the command line applied.</summary>
    public SamplingOptions Sampling(SamplingOptions defaults)
    {
        var s = defaults;
        if (Temperature is float t) s = s with { Temperature = t };
        if (TopK is int k) s = s with { TopK = k };
        if (TopP is float p) s = s with { TopP = p };
        if (MinP is float m) s = s with { MinP = m };
        if (RepetitionPenalty is float r) s = s with { RepetitionPenalty = r };
        if (PresencePenalty is float a) s = s with { PresencePenalty = a };
        if (Seed is ulong seed) s = s with { Seed = seed };
        return s;
    }
}

/// <summary>The command-line options behind <see cref="ModelSettings"/>, added to a command and read back.</summary>
internal sealed class ModelOptions
{
    public readonly Option<string> Model = new("--model", "-m") { Description = "Hugging Face snapshot directory (config.json, model*.safetensors, tokenizer files) or a .gguf file.", Required = true };
    public readonly Option<bool> Bf16 = new("--bf16") { Description = "Keep matrices in BF16 (default when the checkpoint is BF16)." };
    public readonly Option<bool> F32 = new("--f32") { Description = "Widen every weight to float32 (twice the memory)." };
    public readonly Option<int?> Threads = new Option<int?>("--threads") { Description = "Threads for the kernels (default: all cores)." }.AtLeast(1);
    public readonly Option<int?> MaxTokens = new Option<int?>("--max-tokens") { Description = "Most new tokens per reply." }.AtLeast(1);
    public readonly Option<int?> Context = new Option<int?>("--context") { Description = "Context length: positions of the KV cache (prompt + reply)." }.AtLeast(1);
    public readonly Option<float?> Temperature = new Option<float?>("--temperature") { Description = "Sampling temperature (0 = greedy)." }.AtLeast(0f);
    public readonly Option<int?> TopK = new Option<int?>("--top-k") { Description = "Keep the k most likely tokens (0 = off)." }.AtLeast(0);
    public readonly Option<float?> TopP = new Option<float?>("--top-p") { Description = "Nucleus sampling: keep the smallest set reaching probability p (1 = off)." }.InRange(0f, 1f, includeMin: false);
    public readonly Option<float?> MinP = new Option<float?>("--min-p") { Description = "Drop tokens below min-p × the top probability (0 = off)." }.InRange(0f, 1f);
    public readonly Option<float?> RepetitionPenalty = new Option<float?>("--repetition-penalty") { Description = "Divide the logits of tokens already in the context (1 = off)." }.InRange(0f, float.MaxValue, includeMin: false);
    public readonly Option<float?> PresencePenalty = new Option<float?>("--presence-penalty") { Description = "Subtract from the logits of tokens already generated (0 = off)." }.Finite();
    public readonly Option<ulong?> Seed = new("--seed") { Description = "Seed of the sampler: same seed, same text." };
    public readonly Option<string?> Adapter = new("--adapter") { Description = "A LoRA adapter folder (PEFT: adapter_config.json + adapter_model.safetensors) to merge into the model (weights in F32)." };
    public readonly Option<string?> CacheType = new("--cache-type") { Description = "KV cache storage: f32 (default, exact), bf16, f16 or q8_0 (docs/long-context.md)." };
    public readonly Option<int?> TensorParallel = new Option<int?>("--tensor-parallel") { Description = "Under `mpirun -np N`: split the model across the N ranks (1, 2, 4 or 8; docs/distributed.md)." }.AtLeast(1);
    public readonly Option<double> CommTimeout = new("--comm-timeout") { Description = "With --tensor-parallel: seconds to wait on another rank before aborting the job.", DefaultValueFactory = _ => 300 };

    /// <param name="tensorParallel">Also the --tensor-parallel and --comm-timeout options (generate, chat).</param>
    public void AddTo(Command command, bool tensorParallel = false)
    {
        foreach (var o in new Option[] { Model, Bf16, F32, Threads, MaxTokens, Context, Temperature, TopK, TopP, MinP, RepetitionPenalty, PresencePenalty, Seed, Adapter, CacheType })
            command.Options.Add(o);
        if (tensorParallel)
        {
            command.Options.Add(TensorParallel);
            command.Options.Add(CommTimeout);
        }
    }

    public ModelSettings Read(ParseResult parse) => new()
    {
        ModelDir = parse.GetValue(Model)!,
        Format = parse.GetValue(Bf16) ? WeightFormat.BF16 : parse.GetValue(F32) ? WeightFormat.F32 : null,
        Threads = parse.GetValue(Threads),
        MaxTokens = parse.GetValue(MaxTokens),
        Context = parse.GetValue(Context),
        Temperature = parse.GetValue(Temperature),
        TopK = parse.GetValue(TopK),
        TopP = parse.GetValue(TopP),
        MinP = parse.GetValue(MinP),
        RepetitionPenalty = parse.GetValue(RepetitionPenalty),
        PresencePenalty = parse.GetValue(PresencePenalty),
        Seed = parse.GetValue(Seed),
        Adapter = parse.GetValue(Adapter),
        CacheFormat = parse.GetValue(CacheType) is string cache ? KvCacheFormats.Parse(cache) ?? KvCacheFormat.F32 : KvCacheFormat.F32,
        TensorParallel = parse.GetResult(TensorParallel) is null ? null : parse.GetValue(TensorParallel),
        CommTimeout = parse.GetResult(CommTimeout) is null ? 300 : parse.GetValue(CommTimeout),
    };

    /// <summary>--bf16 and --f32 together is an error; so is an unknown --cache-type.</summary>
    public static string? Conflicts(ParseResult parse, ModelOptions o) =>
        parse.GetValue(o.Bf16) && parse.GetValue(o.F32) ? "give --bf16 or --f32, not both."
        : parse.GetValue(o.CacheType) is string cache && KvCacheFormats.Parse(cache) is null ? $"--cache-type '{cache}' is not one of f32, bf16, f16, q8_0."
        : parse.GetResult(o.CommTimeout) is not null && !(parse.GetValue(o.CommTimeout) > 0 && double.IsFinite(parse.GetValue(o.CommTimeout)))
            ? $"--comm-timeout ({parse.GetValue(o.CommTimeout)}) must be a positive number of seconds."
        : null;
}

/// <summary>
/// Loads a snapshot the way every command does: tokenizer files checked first (cheap), then
/// <see cref="ModelDirectory.Load"/>, then the tokenizer. A problem becomes one line on stderr, no stack trace.
/// </summary>
internal static class ModelLoading
{
    /// <summary>Registers the definitions compiled into Qwen3Gen.Definitions (<see cref="Catalog.Register"/>).</summary>
    public static void RegisterDefinitions() => Catalog.Register();

    /// <summary>A model with the Qwen3 tokenizer (chat); a byte-level model (trained with --tokenizer byte) is refused by name.</summary>
    public static (LoadedModel Model, Qwen3Tokenizer Tokenizer)? Load(string command, ModelSettings s, TextWriter err)
    {
        if (LoadAny(command, s, err) is not var (loaded, tokenizer)) return null;
        if (tokenizer is Qwen3Tokenizer qwen3) return (loaded, qwen3);
        loaded.Dispose();
        err.WriteLine($"{command}: error: '{s.ModelDir}' is a byte-level model (trained with --tokenizer byte): {command} needs the Qwen3 tokenizer " +
                      "and its chat template; use `generate` for plain text, or train with --tokenizer qwen3.");
        return null;
    }

    /// <summary>A model and its own tokenizer: the byte-level one when the folder carries the marker, else its Qwen3 tokenizer files.</summary>
    public static (LoadedModel Model, ITokenizer Tokenizer)? LoadAny(string command, ModelSettings s, TextWriter err)
    {
        try
        {
            if (s.Threads is int threads) Workers.Threads = threads;
            RegisterDefinitions();
            bool gguf = Checkpoints.GgufFile.IsGgufPath(s.ModelDir) && !Directory.Exists(s.ModelDir);
            if (!gguf) ModelDirectory.Tokenizer(s.ModelDir).Require();
            if (s.Adapter is not null && s.Format == WeightFormat.BF16) throw new ArgumentException("--adapter merges into F32 weights: leave out --bf16.");
            var loaded = ModelDirectory.Load(s.ModelDir, s.Adapter is null ? s.Format : WeightFormat.F32);
            try
            {
                if (s.Adapter is not null)
                {
                    using var adapter = Qwen3Gen.Training.Lora.LoraAdapter.Load(loaded.Model, s.Adapter);
                    adapter.MergeInto(loaded.Model);                            // W + (alpha / r)·B·A, as PEFT's merge_and_unload
                }
                return (loaded, loaded.LoadTokenizer());
            }
            catch
            {
                loaded.Dispose();
                throw;
            }
        }
        catch (Exception e) when (IsUserError(e))
        {
            Fail(command, e, err);
            return null;
        }
    }

    /// <summary>Exceptions that describe bad input (files, options, a model too big for the memory), reported as one line rather than a crash.</summary>
    public static bool IsUserError(Exception e) =>
        e is IOException or InvalidDataException or NotSupportedException or JsonException or FormatException
          or ArgumentException or UnauthorizedAccessException or InvalidOperationException or InsufficientMemoryException;

    public static void Fail(string command, Exception e, TextWriter err) => err.WriteLine($"{command}: error: {e.Message}");

    /// <summary>
    /// As <see cref="Fail(string, Exception, TextWriter)"/> for an error while <paramref name="model"/> runs: logits that
    /// are not numbers come from weights that are not (a damaged or badly converted file), so the message names the file.
    /// </summary>
    public static void Fail(string command, Exception e, TextWriter err, LoadedModel model)
    {
        if (e is Sampling.NonFiniteLogitsException)
            err.WriteLine($"{command}: error: '{model.Gguf?.Path ?? model.Directory}': the model computed logits that are not finite numbers ({e.Message}): " +
                          "its weights hold NaN or infinite values (a damaged or badly converted file).");
        else Fail(command, e, err);
    }

    /// <summary>
    /// An explicit --max-tokens must leave the prompt room in the context (--context, else max_position_embeddings):
    /// a reply that can never be that long is a mistake in the command line, reported as one.
    /// </summary>
    public static void CheckMaxTokens(ModelSettings s, LoadedModel m, int promptTokens) => CheckMaxTokens(s, m.Config, promptTokens);

    /// <inheritdoc cref="CheckMaxTokens(ModelSettings, LoadedModel, int)"/>
    public static void CheckMaxTokens(ModelSettings s, ModelConfig config, int promptTokens)
    {
        if (s.MaxTokens is not int maxTokens) return;
        int context = s.Context ?? config.MaxPositions;
        string source = s.Context is null ? "max_position_embeddings of the model" : "--context";
        if ((long)promptTokens + maxTokens > context)
            throw new ArgumentException(promptTokens > 0
                ? $"--max-tokens ({maxTokens}) plus the prompt ({promptTokens} tokens) exceeds the context length {context} ({source}); lower --max-tokens."
                : $"--max-tokens ({maxTokens}) exceeds the context length {context} ({source}); lower --max-tokens.");
    }

    /// <summary>
    /// Context length: what was asked, else min(<paramref name="fallback"/>, max_position_embeddings). An asked context
    /// past the model's positions is refused naming --context (the KV cache is sized from it).
    /// </summary>
    public static int ContextLength(ModelSettings s, LoadedModel m, int fallback) => ContextLength(s, m.Config, fallback);

    /// <inheritdoc cref="ContextLength(ModelSettings, LoadedModel, int)"/>
    public static int ContextLength(ModelSettings s, ModelConfig config, int fallback)
    {
        int limit = config.PositionLimit;
        if (s.Context is int asked && asked > limit)
            throw new ArgumentException($"--context ({asked}) exceeds the model's {limit} positions (max_position_embeddings{(limit != config.MaxPositions ? " with its RoPE scaling" : "")}).");
        return s.Context ?? Math.Min(fallback, limit);
    }
}
