using System.CommandLine;
using Qwen3Gen.Inference;
using Qwen3Gen.Tokenization;
using Spectre.Console;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `qwen3gen chat --model DIR`: an interactive chat read from stdin line by line (a pipe works too; EOF ends it).
/// Each line is a user turn; /think and /no_think inside it are Qwen3's soft switches and reach the model as typed.
/// Commands: /reset (new conversation, system prompt kept), /exit.
/// </summary>
internal static class ChatCommand
{
    public sealed record Settings
    {
        public required ModelSettings Model { get; init; }
        public string? System { get; init; }
        public bool NoThink { get; init; }
        public bool HideThinking { get; init; }
        public bool Stats { get; init; }
    }

    public const int DefaultContext = 4096, DefaultMaxTokens = 2048;

    public static Command Create()
    {
        var system = new Option<string?>("--system") { Description = "System prompt (kept when old turns are dropped)." };
        var noThink = new Option<bool>("--no-think") { Description = "enable_thinking=false: no thinking in any turn (soft switches ignored, as in Qwen3)." };
        var hide = new Option<bool>("--hide-thinking") { Description = "Do not print the think blocks." };
        var stats = new Option<bool>("--stats") { Description = "After each reply, print token counts and tokens/s to stderr." };
        var model = new ModelOptions();
        var command = new Command("chat", "Chat with a Hugging Face Qwen3 snapshot (stdin lines; /reset, /exit; /think, /no_think soft switches).")
            { system, noThink, hide, stats };
        model.AddTo(command, tensorParallel: true);
        command.SetAction(parse =>
        {
            if (ModelOptions.Conflicts(parse, model) is string conflict)
            {
                Console.Error.WriteLine($"chat: error: {conflict}");
                return 1;
            }
            var s = new Settings
            {
                Model = model.Read(parse),
                System = parse.GetValue(system),
                NoThink = parse.GetValue(noThink),
                HideThinking = parse.GetValue(hide),
                Stats = parse.GetValue(stats),
            };
            bool terminal = !Console.IsOutputRedirected && !Console.IsInputRedirected;
            return Run(s, Console.In, Console.Out, Console.Error, terminal);
        });
        return command;
    }

    public static int Run(Settings s, TextReader input, TextWriter output, TextWriter error, bool terminal)
    {
        if (s.Model.TensorParallel is not null)
            return TensorParallelCli.Run("chat", s.Model, error, (comm, loaded) => RunTensorParallel(s, comm, loaded, input, output, error, terminal));
        if (ModelLoading.Load("chat", s.Model, error) is not var (loaded, tokenizer)) return 1;
        using (loaded)
        {
            ChatSession session;
            try
            {
                ModelLoading.CheckMaxTokens(s.Model, loaded, promptTokens: 0);
                session = ChatSession.Create(loaded, tokenizer, SessionOptions(s, ModelLoading.ContextLength(s.Model, loaded, DefaultContext)));
            }
            catch (Exception e) when (ModelLoading.IsUserError(e))
            {
                ModelLoading.Fail("chat", e, error);
                return 1;
            }

            using (session)
                return Converse(s, session, $"{loaded.Definition.Name} ({loaded.Format})", input, output, error, terminal, e => ModelLoading.Fail("chat", e, error, loaded));
        }
    }

    /// <summary>
    /// One rank of `mpirun -np N qwen3gen chat … --tensor-parallel N`: rank 0 reads the lines and every rank receives them
    /// (<see cref="TensorParallelCli.BroadcastLines"/>), so all run the same turns over their slices; rank 0 prints. A
    /// reply cannot be interrupted with Ctrl+C here (the ranks would part ways mid-turn): /exit or end of input ends the chat.
    /// </summary>
    private static int RunTensorParallel(Settings s, Distributed.ICommunicator comm, TensorParallel.LoadedTensorParallelModel loaded,
                                         TextReader input, TextWriter output, TextWriter error, bool terminal)
    {
        if (loaded.Tokenizer is not Qwen3Tokenizer tokenizer)
            throw new ArgumentException($"chat needs the Qwen3 tokenizer and its chat template; '{s.Model.ModelDir}' is byte-level (trained with --tokenizer byte).");
        ModelLoading.CheckMaxTokens(s.Model, loaded.Config, promptTokens: 0);
        var options = SessionOptions(s, ModelLoading.ContextLength(s.Model, loaded.Config, DefaultContext));
        var (decoder, sampler) = TensorParallelCli.Decoder(comm, loaded, options.ContextLength, options.Sampling ?? Sampling.SamplingOptions.QwenThinking);
        using var _ = decoder;
        using var engine = new ChatEngine(decoder, sampler, tokenizer, loaded.Generation.EosTokenIds.Concat(tokenizer.EosIds));
        using var session = new ChatSession(engine, options);
        bool rank0 = comm.Rank == 0;
        var rankError = rank0 ? error : TextWriter.Null;
        return Converse(s, session, $"{loaded.Definition.Name} ({loaded.Model.Weights.Format}, {comm.Size}-way tensor parallel)",
                        new TensorParallelCli.BroadcastLines(comm, input), rank0 ? output : TextWriter.Null, rankError, terminal && rank0,
                        e => ModelLoading.Fail("chat", e, rankError), interruptible: false);
    }

    private static ChatSessionOptions SessionOptions(Settings s, int context)
    {
        var options = new ChatSessionOptions
        {
            SystemPrompt = s.System,
            EnableThinking = s.NoThink ? false : null,
            MaxNewTokens = s.Model.MaxTokens ?? DefaultMaxTokens,
            ContextLength = context,
            Seed = s.Model.Seed ?? 0,
            CacheFormat = s.Model.CacheFormat,
        };
        if (HasSamplingOverrides(s.Model))
            options = options with { Sampling = s.Model.Sampling(s.NoThink ? Sampling.SamplingOptions.QwenNonThinking : Sampling.SamplingOptions.QwenThinking) };
        return options;
    }

    /// <summary>The chat loop: a line is a user turn; /reset, /exit. <paramref name="fail"/> reports a turn's error.</summary>
    private static int Converse(Settings s, ChatSession session, string description, TextReader input, TextWriter output, TextWriter error,
                                bool terminal, Action<Exception> fail, bool interruptible = true)
    {
        var writer = new ChatOutput(output, error, terminal, s.HideThinking);
        error.WriteLine($"chat: {description}, context {session.Engine.ContextLength} tokens. " +
                        "Commands: /reset, /exit; add /think or /no_think to a message to switch thinking.");
        using var cancel = new TurnCancellation(terminal && interruptible);
        while (true)
        {
            if (terminal) AnsiConsole.Markup("[bold green]> [/]");
            string? line = input.ReadLine();
            if (line is null) break;
            string text = line.Trim();
            if (text.Length == 0) continue;
            if (text is "/exit" or "/quit") break;
            if (text == "/reset")
            {
                session.Reset();
                error.WriteLine("[conversation reset]");
                continue;
            }

            writer.Begin();
            try
            {
                var turn = session.Send(line, writer.Write, cancel.Start());
                writer.End();
                if (s.Stats) error.WriteLine(GenerateCommand.Stats(turn.Reply));
                else if (turn.Reply.Stop is StopReason.MaxTokens or StopReason.ContextFull)
                    error.WriteLine($"[reply cut: {(turn.Reply.Stop == StopReason.MaxTokens ? "max tokens" : "context full")}]");
            }
            catch (OperationCanceledException)
            {
                writer.End();
                error.WriteLine("[reply interrupted; the turn is not kept]");
            }
            catch (Exception e) when (ModelLoading.IsUserError(e))
            {
                writer.End();
                fail(e);
            }
            finally { cancel.Done(); }
        }
        return 0;
    }

    private static bool HasSamplingOverrides(ModelSettings m) =>
        m.Temperature is not null || m.TopK is not null || m.TopP is not null || m.MinP is not null
        || m.RepetitionPenalty is not null || m.PresencePenalty is not null;

    /// <summary>On a terminal, Ctrl+C interrupts the reply being generated (a second one, between replies, exits).</summary>
    private sealed class TurnCancellation : IDisposable
    {
        private readonly bool _active;
        private CancellationTokenSource _cts = new();

        public TurnCancellation(bool active)
        {
            _active = active;
            if (active) Console.CancelKeyPress += OnCancel;
        }

        private volatile bool _running;

        /// <summary>A token for the reply about to start; Ctrl+C cancels it until <see cref="Done"/>.</summary>
        public CancellationToken Start()
        {
            if (_cts.IsCancellationRequested)
            {
                _cts.Dispose();
                _cts = new CancellationTokenSource();
            }
            _running = true;
            return _cts.Token;
        }

        public void Done() => _running = false;

        private void OnCancel(object? sender, ConsoleCancelEventArgs e)
        {
            if (!_running || _cts.IsCancellationRequested) return;   // no reply running: Ctrl+C ends the program
            e.Cancel = true;
            _cts.Cancel();
        }

        public void Dispose()
        {
            if (_active) Console.CancelKeyPress -= OnCancel;
            _cts.Dispose();
        }
    }
}
