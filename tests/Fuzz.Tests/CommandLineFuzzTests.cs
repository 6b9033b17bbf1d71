using Qwen3Gen.Sample.Commands;

namespace Qwen3Gen.Fuzz.Tests;

/// <summary>
/// Random command lines over every command's options with hostile values: the program returns an exit code (no
/// exception escapes), a non-zero code comes with a message on stderr, and no stack trace is printed. Commands that
/// would start real work are pointed at a missing model so they end at once.
/// </summary>
[Collection(ConsoleCollection.Name)]
public class CommandLineFuzzTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly string[] Values =
    [
        "-1", "0", "1", "2", "2147483647", "2147483648", "99999999999", "NaN", "Infinity", "-Infinity", "-0.5", "0.5", "1e400",
        "abc", "", " ", "--", "-x", "--frobnicate", "151700", "999999999", "byte", "qwen3", "\"", "\udc00", "é",
    ];

    private static readonly Dictionary<string, string[]> Options = new()
    {
        ["tokenize"] = ["--file", "--decode", "--skip-special", "--tokenizer-dir"],
        ["train"] = ["--steps", "--batch", "--context", "--lr", "--min-lr", "--warmup", "--accumulation", "--weight-decay", "--beta2",
                     "--clip", "--seed", "--threads", "--eval-interval", "--checkpoint-interval", "--log-interval", "--resume",
                     "--overwrite", "--data", "--tokenizer", "--samples", "--init-std", "--scaled-residual-init"],
        ["generate"] = ["--chat", "--no-think", "--hide-thinking", "--bf16", "--f32", "--threads", "--max-tokens", "--context",
                        "--temperature", "--top-k", "--top-p", "--min-p", "--repetition-penalty", "--presence-penalty", "--seed"],
        ["info"] = [],
    };

    [Fact]
    public void RandomCommandLines_EndWithAnExitCode_AndNoStackTrace()
    {
        var commands = Options.Keys.ToArray();
        int failures = 0;
        int cases = FuzzBudget.Run("cli", (r, folder) =>
        {
            string command = commands[r.Next(commands.Length)];
            var args = new List<string> { command };
            string Value() => r.Next(5) switch
            {
                0 => folder,                                                          // a folder where a file is expected
                1 => Path.Combine(folder, "missing.txt"),
                _ => Values[r.Next(Values.Length)],
            };
            for (int k = r.Next(0, 6); k > 0; k--)
            {
                if (r.Next(3) == 0 || Options[command].Length == 0) args.Add(Value());
                else
                {
                    args.Add(Options[command][r.Next(Options[command].Length)]);
                    if (r.Next(4) != 0) args.Add(Value());
                }
            }
            // Where the command would do real work, it gets a model that does not exist (train: a definition name).
            if (command == "train") args.AddRange(["--model", "NoSuchDefinition", "--out", Path.Combine(folder, "run")]);
            if (command == "generate") args.AddRange(["--model", Path.Combine(folder, "no-model")]);
            File.WriteAllLines(Path.Combine(folder, "args.txt"), args, new System.Text.UTF8Encoding(false, throwOnInvalidBytes: false));

            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int code;
            lock (Console.Out)
            {
                TextWriter oldOut = Console.Out, oldErr = Console.Error;
                Console.SetOut(stdout);
                Console.SetError(stderr);
                try { code = CommandLine.Invoke(CommandLine.CreateRoot(), args.ToArray(), stderr); }
                finally
                {
                    Console.SetOut(oldOut);
                    Console.SetError(oldErr);
                }
            }
            string err = stderr.ToString();
            Assert.DoesNotContain("   at ", err);
            Assert.DoesNotContain("Unhandled exception", err);
            if (code != 0)
            {
                failures++;
                Assert.False(string.IsNullOrWhiteSpace(err), $"exit code {code} without a message for: {string.Join(' ', args)}");
            }
        });
        output.WriteLine($"{cases} command lines, {failures} refused");
    }
}
