using Qwen3Gen.Sample.Commands;

// qwen3gen: train, generate, chat, serve, tokenize and benchmark Qwen3 models compiled by Qwen3Gen.
// Each command lives in Commands/<Name>Command.cs and is registered in CommandLine.CreateRoot.
return CommandLine.Invoke(CommandLine.CreateRoot(), args);
