using System.CommandLine;

namespace Qwen3Gen.Sample.Commands;

/// <summary>`qwen3gen info [MODEL]`: the compiled definitions, or one definition's summary and a forward pass.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var model = new Argument<string?>("model") { Description = "A definition name (see the list); none lists them all.", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("info", "List the compiled model definitions, or summarise one and run a forward pass.") { model };
        command.SetAction(parse => Run(parse.GetValue(model)));
        return command;
    }

    public static int Run(string? name)
    {
        Console.WriteLine($"Qwen3Gen: {name ?? "(all)"}");
        return 0;
    }
}
