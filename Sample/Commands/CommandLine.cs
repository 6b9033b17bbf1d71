using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// The one place where command lines are checked before any command runs:
/// - <see cref="Invoke"/>: an option nobody declared is an error, also where a command takes free text (System.CommandLine
///   would hand `--frobnicate` to the prompt or text argument); text that starts with '-' goes after `--`;
/// - the range validators each command attaches to its numeric options (<see cref="AtLeast{T}"/>, <see cref="Finite"/>,
///   <see cref="InRange"/>): a bad value is a parse error that names the option, printed with a non-zero exit code
///   before the command starts.
/// </summary>
internal static class CommandLine
{
    /// <summary>Exit code of a command line that was refused.</summary>
    public const int UsageError = 2;

    /// <summary>The root command with every command registered; with no command it runs the default demo.</summary>
    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("Qwen3Gen: Qwen3 models compiled to specialised C#. With no command: the default demo.");
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(TokenizeCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(ChatCommand.Create());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(LogitsCommand.Create());
        root.Subcommands.Add(PerplexityCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(QuantizeCommand.Create());
        root.SetAction(parse => DefaultCommand.Run(parse));
        return root;
    }

    /// <summary>Parses <paramref name="args"/>, refuses unknown options, then runs the command.</summary>
    public static int Invoke(RootCommand root, string[] args, TextWriter? error = null)
    {
        error ??= Console.Error;
        var parse = root.Parse(args);
        if (parse.Errors.Count == 0 && UnknownOption(parse) is string unknown)
        {
            string command = parse.CommandResult.Command.Name;
            error.WriteLine($"{command}: error: unknown option '{unknown}' (see `{command} --help`; to pass text that starts with '-', put it after `--`).");
            return UsageError;
        }
        return parse.Invoke(new InvocationConfiguration { Error = error });
    }

    /// <summary>The first argument token that looks like an option (-x, --name), before any `--`; null if none.</summary>
    internal static string? UnknownOption(ParseResult parse)
    {
        foreach (var token in parse.Tokens)
        {
            if (token.Type == TokenType.DoubleDash) return null;
            if (token.Type == TokenType.Argument && LooksLikeOption(token.Value)) return token.Value;
        }
        return null;
    }

    /// <summary>"-x", "--name", "--name=value": a dash then a letter (so "-1", "-0.5" and "- item" are text).</summary>
    private static bool LooksLikeOption(string value) =>
        value.Length > 1 && value[0] == '-' && (char.IsLetter(value[1]) || (value.Length > 2 && value[1] == '-' && char.IsLetter(value[2])));

    /// <summary>The option's value must be at least <paramref name="min"/>.</summary>
    public static Option<T> AtLeast<T>(this Option<T> option, T min) where T : INumber<T>
    {
        option.Validators.Add(result =>
        {
            if (Value<T>(result) is not T value) return;
            if (!T.IsFinite(value) || value < min) result.AddError($"{option.Name} ({Show(value)}) must be a finite number at least {Show(min)}.");
        });
        return option;
    }

    /// <summary>Nullable form of <see cref="AtLeast{T}(Option{T}, T)"/> (an absent value is not checked).</summary>
    public static Option<T?> AtLeast<T>(this Option<T?> option, T min) where T : struct, INumber<T>
    {
        option.Validators.Add(result =>
        {
            if (Value<T?>(result) is not T value) return;
            if (!T.IsFinite(value) || value < min) result.AddError($"{option.Name} ({Show(value)}) must be a finite number at least {Show(min)}.");
        });
        return option;
    }

    /// <summary>The option's value must be a finite number in [<paramref name="min"/>, <paramref name="max"/>] (bounds included unless said).</summary>
    public static Option<T> InRange<T>(this Option<T> option, T min, T max, bool includeMin = true, bool includeMax = true) where T : INumber<T>
    {
        option.Validators.Add(result =>
        {
            if (Value<T>(result) is not T value) return;
            if (!InRange(value, min, max, includeMin, includeMax))
                result.AddError($"{option.Name} ({Show(value)}) must be in {(includeMin ? "[" : "(")}{Show(min)}, {Show(max)}{(includeMax ? "]" : ")")}.");
        });
        return option;
    }

    /// <summary>Nullable form of <see cref="InRange{T}(Option{T}, T, T, bool, bool)"/>.</summary>
    public static Option<T?> InRange<T>(this Option<T?> option, T min, T max, bool includeMin = true, bool includeMax = true) where T : struct, INumber<T>
    {
        option.Validators.Add(result =>
        {
            if (Value<T?>(result) is not T value) return;
            if (!InRange(value, min, max, includeMin, includeMax))
                result.AddError($"{option.Name} ({Show(value)}) must be in {(includeMin ? "[" : "(")}{Show(min)}, {Show(max)}{(includeMax ? "]" : ")")}.");
        });
        return option;
    }

    /// <summary>The option's value must be a finite number (no NaN, no infinity).</summary>
    public static Option<T?> Finite<T>(this Option<T?> option) where T : struct, IFloatingPoint<T>
    {
        option.Validators.Add(result =>
        {
            if (Value<T?>(result) is not T value) return;
            if (!T.IsFinite(value)) result.AddError($"{option.Name} ({Show(value)}) must be a finite number.");
        });
        return option;
    }

    /// <summary>The value given on the command line; null when none was given or it did not parse (that error is reported already).</summary>
    private static object? Value<T>(OptionResult result)
    {
        if (result.Tokens.Count == 0) return null;
        try { return result.GetValueOrDefault<T>(); }
        catch (InvalidOperationException) { return null; }
    }

    private static bool InRange<T>(T value, T min, T max, bool includeMin, bool includeMax) where T : INumber<T> =>
        T.IsFinite(value) && (includeMin ? value >= min : value > min) && (includeMax ? value <= max : value < max);

    private static string Show<T>(T value) where T : INumber<T> => value.ToString(null, CultureInfo.InvariantCulture);
}
