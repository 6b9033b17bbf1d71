using System.CommandLine;
using Qwen3Gen.Sample.Commands;

// qwen3gen: train, generate, chat, serve, tokenize and benchmark Qwen3 models compiled by Qwen3Gen.
// Each command lives in Commands/<Name>Command.cs and is registered here.
var root = new RootCommand("Qwen3Gen: Qwen3 models compiled to specialised C#. With no command: the default demo.");
root.Subcommands.Add(InfoCommand.Create());
root.Subcommands.Add(TokenizeCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(ChatCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(ExportCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.SetAction(parse => DefaultCommand.Run(parse));
return root.Parse(args).Invoke();
