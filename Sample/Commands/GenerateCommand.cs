using System.CommandLine;
using System.Globalization;
using Qwen3Gen.Inference;
using Qwen3Gen.Sampling;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `qwen3gen generate "prompt" --model DIR`: streams the continuation of a prompt (or, with --chat, the reply to it as
/// a user turn of the chat template) and ends with the prompt / generated token counts and prefill / decode tokens/s.
/// </summary>
internal static class GenerateCommand
{
    public sealed record Settings
    {
        public required string Prompt { get; init; }
        public required ModelSettings Model { get; init; }
        public bool Chat { get; init; }
        public bool NoThink { get; init; }
        public bool HideThinking { get; init; }
    }

    public const int DefaultMaxTokens = 256;

    public static Command Create()
    {
        var prompt = new Argument<string[]>("prompt") { Description = "The prompt (several words are joined with spaces).", Arity = ArgumentArity.OneOrMore };
        var chat = new Option<bool>("--chat") { Description = "Wrap the prompt as a user turn of the Qwen3 chat template." };
        var noThink = new Option<bool>("--no-think") { Description = "With --chat: enable_thinking=false (empty think block, non-thinking sampling defaults)." };
        var hide = new Option<bool>("--hide-thinking") { Description = "With --chat: do not print the think block." };
        var model = new ModelOptions();
        var command = new Command("generate", "Stream a continuation of PROMPT from a Hugging Face Qwen3 snapshot.") { prompt, chat, noThink, hide };
        model.AddTo(command, tensorParallel: true);
        command.SetAction(parse =>
        {
            if (ModelOptions.Conflicts(parse, model) is string conflict)
            {
                Console.Error.WriteLine($"generate: error: {conflict}");
                return 1;
            }
            var s = new Settings
            {
                Prompt = string.Join(' ', parse.GetValue(prompt) ?? []),
                Model = model.Read(parse),
                Chat = parse.GetValue(chat),
                NoThink = parse.GetValue(noThink),
                HideThinking = parse.GetValue(hide),
            };
            return Run(s, Console.Out, Console.Error, terminal: !Console.IsOutputRedirected);
        });
        return command;
    }

    public static int Run(Settings s, TextWriter output, TextWriter error, bool terminal)
    {
        if (s.Model.TensorParallel is not null)
            return TensorParallelCli.Run("generate", s.Model, error, (comm, loaded) =>
                RunTensorParallel(s, comm, loaded, comm.Rank == 0 ? output : TextWriter.Null, comm.Rank == 0 ? error : TextWriter.Null, terminal && comm.Rank == 0));
        if (ModelLoading.LoadAny("generate", s.Model, error) is not var (loaded, anyTokenizer)) return 1;
        using (loaded)
        {
            try
            {
                if (!s.Chat) return RunPlain(s, loaded, anyTokenizer, output, error);
                if (anyTokenizer is not Qwen3Tokenizer tokenizer)
                    throw new ArgumentException($"--chat needs a model with the Qwen3 tokenizer; '{s.Model.ModelDir}' is byte-level (trained with --tokenizer byte).");
                int maxTokens = s.Model.MaxTokens ?? DefaultMaxTokens;
                bool? enableThinking = s.NoThink ? false : null;
                var messages = new[] { ChatMessage.User(s.Prompt) };
                int[] prompt = ChatTemplate.Encode(tokenizer, messages, addGenerationPrompt: true, enableThinking);
                var sampling = s.Model.Sampling(ChatThinkingMode.IsThinking(messages, enableThinking) ? SamplingOptions.QwenThinking : SamplingOptions.QwenNonThinking);
                ModelLoading.CheckMaxTokens(s.Model, loaded, prompt.Length);
                int context = ModelLoading.ContextLength(s.Model, loaded, (int)Math.Min(int.MaxValue, (long)prompt.Length + maxTokens));
                using var engine = ChatEngine.Create(loaded, tokenizer, context, cacheFormat: s.Model.CacheFormat);
                var request = new ChatRequest { Sampling = sampling, Seed = sampling.Seed, MaxNewTokens = maxTokens };

                var writer = new ChatOutput(output, error, terminal, s.HideThinking);
                writer.Begin();
                var reply = engine.Generate(prompt, request, separateThinking: true, writer.Write);
                writer.End();
                error.WriteLine(Stats(reply.Stats));
                return 0;
            }
            catch (Exception e) when (ModelLoading.IsUserError(e))
            {
                ModelLoading.Fail("generate", e, error, loaded);
                return 1;
            }
        }
    }

    /// <summary>
    /// Plain text (no chat template), for any tokenizer: the continuation streamed by <see cref="TextGeneration"/> with
    /// generation_config.json's sampling and stop ids, special tokens left out of the text.
    /// </summary>
    private static int RunPlain(Settings s, LoadedModel loaded, ITokenizer tokenizer, TextWriter output, TextWriter error)
    {
        int maxTokens = s.Model.MaxTokens ?? DefaultMaxTokens;
        int[] prompt = tokenizer.Encode(s.Prompt);
        if (prompt.Length == 0) throw new ArgumentException("The prompt encodes to no tokens: give some text.");
        var sampling = s.Model.Sampling(FromGenerationConfig(loaded.Generation));
        ModelLoading.CheckMaxTokens(s.Model, loaded, prompt.Length);
        int context = ModelLoading.ContextLength(s.Model, loaded, (int)Math.Min(int.MaxValue, (long)prompt.Length + maxTokens));
        using var session = new PrefillProgress(loaded.Model.CreateSession(context, cacheFormat: s.Model.CacheFormat), error);   // progress lines for long prompts
        var generation = new TextGeneration(session, new Sampler(loaded.Config.Vocab, sampling), tokenizer);
        var options = new GenerationOptions
        {
            MaxNewTokens = maxTokens, StopTokenIds = [.. loaded.Generation.EosTokenIds, .. tokenizer.EosIds], OnlyTokenizerIds = true, SkipSpecialTokens = true,
        };
        var stats = generation.Generate(prompt, options, output);
        output.WriteLine();
        error.WriteLine(Stats(stats));
        return 0;
    }

    /// <summary>
    /// One rank of `mpirun -np N qwen3gen generate … --tensor-parallel N`: the same text loop as one process (plain or
    /// --chat), over the rank's session and a <see cref="ShardedSampler"/>; every rank picks the same tokens, rank 0 prints.
    /// </summary>
    private static int RunTensorParallel(Settings s, Distributed.ICommunicator comm, TensorParallel.LoadedTensorParallelModel loaded,
                                         TextWriter output, TextWriter error, bool terminal)
    {
        int maxTokens = s.Model.MaxTokens ?? DefaultMaxTokens;
        int[] prompt;
        SamplingOptions sampling;
        var stopIds = loaded.Generation.EosTokenIds.Concat(loaded.Tokenizer.EosIds).ToArray();
        GenerationStats stats;
        if (s.Chat)
        {
            if (loaded.Tokenizer is not Qwen3Tokenizer tokenizer)
                throw new ArgumentException($"--chat needs a model with the Qwen3 tokenizer; '{s.Model.ModelDir}' is byte-level (trained with --tokenizer byte).");
            bool? enableThinking = s.NoThink ? false : null;
            var messages = new[] { ChatMessage.User(s.Prompt) };
            prompt = ChatTemplate.Encode(tokenizer, messages, addGenerationPrompt: true, enableThinking);
            sampling = s.Model.Sampling(ChatThinkingMode.IsThinking(messages, enableThinking) ? SamplingOptions.QwenThinking : SamplingOptions.QwenNonThinking);
            ModelLoading.CheckMaxTokens(s.Model, loaded.Config, prompt.Length);
            int context = ModelLoading.ContextLength(s.Model, loaded.Config, (int)Math.Min(int.MaxValue, (long)prompt.Length + maxTokens));
            var (session, sampler) = TensorParallelCli.Decoder(comm, loaded, context, sampling);
            using var _ = session;
            using var engine = new ChatEngine(session, sampler, tokenizer, stopIds);
            var writer = new ChatOutput(output, error, terminal, s.HideThinking);
            writer.Begin();
            var reply = engine.Generate(prompt, new ChatRequest { Sampling = sampling, Seed = sampling.Seed, MaxNewTokens = maxTokens }, separateThinking: true, writer.Write);
            writer.End();
            stats = reply.Stats;
        }
        else
        {
            prompt = loaded.Tokenizer.Encode(s.Prompt);
            if (prompt.Length == 0) throw new ArgumentException("The prompt encodes to no tokens: give some text.");
            sampling = s.Model.Sampling(FromGenerationConfig(loaded.Generation));
            ModelLoading.CheckMaxTokens(s.Model, loaded.Config, prompt.Length);
            int context = ModelLoading.ContextLength(s.Model, loaded.Config, (int)Math.Min(int.MaxValue, (long)prompt.Length + maxTokens));
            var (session, sampler) = TensorParallelCli.Decoder(comm, loaded, context, sampling);
            using var _ = session;
            var generation = new TextGeneration(session, sampler, loaded.Tokenizer);
            var options = new GenerationOptions { MaxNewTokens = maxTokens, StopTokenIds = stopIds, OnlyTokenizerIds = true, SkipSpecialTokens = true };
            stats = generation.Generate(prompt, options, output);
            output.WriteLine();
        }
        error.WriteLine(Stats(stats));
        error.WriteLine($"tensor-parallel: {comm.Size} ranks ({comm.Description}), {loaded.Definition.Name} {loaded.Model.Weights.Format}, " +
                        $"{loaded.Model.Weights.Bytes / 1e9:0.00} GB of weights per rank; rank 0 waited {loaded.Model.CommunicationTime.TotalMilliseconds:0} ms in all-reduces");
        return 0;
    }

    /// <summary>generation_config.json's sampling: greedy unless do_sample.</summary>
    public static SamplingOptions FromGenerationConfig(GenerationConfig g) => !g.DoSample
        ? SamplingOptions.Greedy
        : new SamplingOptions { Temperature = g.Temperature, TopK = g.TopK, TopP = g.TopP, MinP = g.MinP, RepetitionPenalty = g.RepetitionPenalty };

    /// <summary>"prompt 12 tokens (prefill 310.2 tok/s), generated 64 tokens (decode 15.1 tok/s), stop: max tokens".</summary>
    public static string Stats(ChatReply r) => Stats(r.Stats);

    /// <inheritdoc cref="Stats(ChatReply)"/>
    public static string Stats(GenerationStats r)
    {
        var c = CultureInfo.InvariantCulture;
        string stop = r.StopReason switch
        {
            StopReason.StopToken => "end of sequence",
            StopReason.MaxTokens => "max tokens",
            StopReason.StopString => "stop string",
            _ => "context full",
        };
        string reused = r.ReusedPromptTokens > 0 ? string.Format(c, ", {0} reused", r.ReusedPromptTokens) : "";
        return string.Format(c, "prompt {0} tokens{1} (prefill {2:0.0} tok/s), generated {3} tokens (decode {4:0.0} tok/s), stop: {5}",
            r.PromptTokens, reused, r.PrefillTokensPerSecond, r.GeneratedTokens, r.DecodeTokensPerSecond, stop);
    }
}
