// (the generator emitted no model source)
