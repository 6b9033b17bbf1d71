using System.CommandLine;

namespace Qwen3Gen.Sample.Commands;

/// <summary>What `qwen3gen` does with no command: the README's main job.</summary>
internal static class DefaultCommand
{
    public static int Run(ParseResult parse) => InfoCommand.Run("Qwen3Tiny");
}
